"""The ``http`` source: a GET on a configured URL through the pooled client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask_fanout import CallError

from .base import NO_PARAMS, Params
from .httpclient import HttpClient
from .url_template import UrlTemplate


@dataclass
class HttpSource:
    """A GET on a configured URL: JSON when the answer is JSON, text otherwise."""

    name: str
    url: str
    client: HttpClient
    max_bytes: int
    timeout: float | None = None
    parameters: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._template = UrlTemplate.parse(self.url, f"sources.{self.name}.url")
        self.parameters = self._template.names  # {name} placeholders of the URL

    def read(self, timeout: float, params: Params = NO_PARAMS) -> Any:
        url = self._template.fill(params)
        status, content_type, body = self.client.get(url, timeout, self.max_bytes)
        if status >= 400:
            raise CallError("bad_response", f"{self.url} answered HTTP {status}")
        if "json" in content_type.lower():
            try:
                return json.loads(body)
            except ValueError:
                raise CallError(
                    "bad_response", f"{self.url} sent JSON that does not parse"
                ) from None
        return body.decode("utf-8", errors="replace")
