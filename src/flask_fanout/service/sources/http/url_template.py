"""URL templates of ``http`` sources: ``https://api/users/{user_id}/orders?since={since}``.

A ``{name}`` placeholder is filled from the route's parameters, each value
percent-encoded whole (``quote(value, safe="")``): a value is always data,
never structure, so ``/``, ``?``, ``#``, ``&``, ``=`` and ``%`` in it cannot
add a segment, start a query or a fragment, or split a query value. A value
made only of dots (``.``, ``..``) is also encoded (``%2E``) in the path, so it
can never be a dot-segment that a proxy or server resolves. Placeholders may be
in the path and the query only, never in the scheme, host or port: the operator
alone chooses where a request goes. Braces that are not a placeholder are a
config error (write ``%7B`` and ``%7D``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from flask_fanout import CallError, ConfigError

from ..base import Params

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


@dataclass(frozen=True)
class UrlTemplate:
    """A parsed URL: literal text and placeholders, each knowing if it is in the path."""

    url: str
    parts: tuple[str | tuple[str, bool], ...]
    """Literal text, or (placeholder name, in the path)."""
    names: frozenset[str]

    @classmethod
    def parse(cls, url: str, where: str) -> UrlTemplate:
        """Check ``url``'s placeholders; ``where`` names the config key in errors."""
        start = _path_start(url)
        query = url.find("?", start)
        fragment = url.find("#", start)
        parts: list[str | tuple[str, bool]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(url):
            if match.start() < start:
                raise ConfigError(
                    f"{where}: placeholder {match.group(0)} must be in the path or the query,"
                    " not in the scheme, host or port"
                )
            if 0 <= fragment < match.start():
                raise ConfigError(f"{where}: placeholder {match.group(0)} is in the fragment")
            _literal(url[position : match.start()], where)
            parts += [
                url[position : match.start()],
                (match.group(1), not 0 <= query < match.start()),
            ]
            position = match.end()
        _literal(url[position:], where)
        parts.append(url[position:])
        names = frozenset(part[0] for part in parts if isinstance(part, tuple))
        return cls(url, tuple(part for part in parts if part != ""), names)

    def fill(self, params: Params) -> str:
        """The URL with every placeholder replaced by its encoded value."""
        if not self.names:
            return self.url
        pieces = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            name, in_path = part
            if name not in params:
                raise CallError("error", f"no value for the URL placeholder {{{name}}}")
            pieces.append(encode(params[name], in_path))
        return "".join(pieces)


def encode(value: str | int | float, in_path: bool) -> str:
    """One value, percent-encoded whole; dots too in the path when it is only dots."""
    text = quote(str(value), safe="")
    if in_path and text and text.strip(".") == "":
        return "%2E" * len(text)
    return text


def _path_start(url: str) -> int:
    """Where the path (or the query) starts: after ``scheme://authority``."""
    authority = url.find("://")
    authority = 0 if authority < 0 else authority + 3
    ends = [i for i in (url.find(c, authority) for c in "/?#") if i >= 0]
    return min(ends) if ends else len(url)


def _literal(text: str, where: str) -> None:
    if "{" in text or "}" in text:
        raise ConfigError(
            f"{where}: a brace that is not a {{name}} placeholder (name: letters, digits, '_');"
            " write a literal brace as %7B or %7D"
        )
