"""One HTTP request, serialized once: where it goes and the bytes sent for it.

A source's request is the same on every call, so its head and body are built at
start-up and sent as one buffer; only a redirect makes a new one. Header values
may be secrets (``Bearer ${API_TOKEN}``), so a request's ``repr`` names its
headers and never shows their values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

ACCEPT = "application/json, text/*;q=0.8"
USER_AGENT = "flask-fanout"


@dataclass(frozen=True)
class Target:
    """Where a URL points: what to connect to, and the request line's parts."""

    scheme: str
    host: str
    port: int
    authority: str
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        host = (parts.hostname or "").encode("idna").decode("ascii")  # ValueError if it cannot
        port = parts.port or default_port  # ValueError for a port that is not a number
        authority = f"[{host}]" if ":" in host else host
        if port != default_port:
            authority += f":{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, authority, quote(path, safe="/?&=%+:@!$,;~*()[]"))

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@dataclass(frozen=True)
class Request:
    """A request as a source sends it. ``sensitive`` names (lower case) the headers
    dropped when a redirect leaves the host, as requests and urllib3 drop
    ``Authorization``."""

    method: str
    url: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = field(default=None, repr=False)
    sensitive: frozenset[str] = frozenset()
    target: Target = field(init=False, repr=False, compare=False)
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        target = Target.parse(self.url)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "wire", _serialize(self, target))

    @property
    def header_names(self) -> list[str]:
        return [name for name, _ in self.headers]

    def __repr__(self) -> str:
        where = f"{self.target.scheme}://{self.target.authority}"
        return f"Request({self.method} {where}, headers={self.header_names})"


def _serialize(request: Request, target: Target) -> bytes:
    given = {name.lower() for name, _ in request.headers}
    lines = [f"{request.method} {target.path} HTTP/1.1", f"Host: {target.authority}"]
    if "accept" not in given:
        lines.append(f"Accept: {ACCEPT}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if request.body is not None and "content-type" not in given:
        lines.append("Content-Type: application/json")
    if request.body is not None or request.method == "POST":
        lines.append(f"Content-Length: {len(request.body or b'')}")
    head = "\r\n".join(lines).encode("ascii")
    extra = b"".join(
        b"\r\n" + name.encode("ascii") + b": " + value.encode("utf-8")
        for name, value in request.headers
    )
    return head + extra + b"\r\n\r\n" + (request.body or b"")
