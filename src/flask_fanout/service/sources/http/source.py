"""The ``http`` source: a configured request (GET, or POST with a JSON body) through
the source's own connection pool, redirects refused unless allowed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask_fanout import CallError

from ...config import HttpSettings
from ..base import NO_PARAMS, Params
from .client import ConnectionPool
from .redirects import fetch
from .url_template import UrlTemplate
from .wire import Request


@dataclass
class HttpSource:
    """A request to a configured URL: JSON when the answer is JSON, text otherwise.

    ``url`` is the URL called (``${VAR}`` resolved: it may hold a secret);
    messages show ``shown_url``, the URL as written. The request is built once.
    """

    name: str
    settings: HttpSettings
    pool: ConnectionPool = field(repr=False)
    max_bytes: int
    timeout: float | None = None
    parameters: frozenset[str] = frozenset()
    request: Request = field(init=False, repr=False)
    template: UrlTemplate = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.template = UrlTemplate.parse(self.url, f"sources.{self.name}.url")
        self.parameters = self.template.names  # {name} placeholders of the URL
        self.request = self.request_to(self.url)

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def shown_url(self) -> str:
        return self.settings.shown_url

    def request_to(self, url: str) -> Request:
        """This source's request (method, headers, body) sent to ``url``."""
        s = self.settings
        return Request(s.method, url, s.headers, s.body, s.secret_headers)

    def read(self, timeout: float, params: Params = NO_PARAMS) -> Any:
        if not self.parameters:
            return self.answer(self.request, timeout, self.shown_url)
        return self.answer(self.request_to(self.template.fill(params)), timeout, self.shown_url)

    def answer(self, request: Request, timeout: float, shown: str) -> Any:
        """Send ``request``; its answer as JSON or text, or a :class:`CallError`."""
        status, content_type, body, _ = fetch(
            self.pool, request, timeout, self.max_bytes, shown, self.settings.follow_redirects
        )
        if status >= 400:
            raise CallError("bad_response", f"{shown} answered HTTP {status}")
        if "json" in content_type.lower():
            try:
                return json.loads(body)
            except ValueError:
                raise CallError("bad_response", f"{shown} sent JSON that does not parse") from None
        return body.decode("utf-8", errors="replace")
