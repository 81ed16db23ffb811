"""Redirects of an ``http`` source: refused by default, followed up to a limit.

An upstream that redirects is usually misconfigured (``http://`` for ``https://``,
a missing slash), and following silently hides that and can carry credentials
elsewhere, so a 3xx answer is a ``bad_response`` unless ``follow_redirects = N``
allows up to N hops. Hops behave as browsers, requests and urllib3 do: 303, and
301/302 after a POST, continue as a GET without the body; 307 and 308 repeat the
request; a hop that leaves the origin (another host, or a change of scheme or
port other than the ``http`` -> ``https`` upgrade) drops the sensitive headers
(``Authorization`` and every header whose value came from the environment).
"""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urljoin

from flask_fanout import CallError

from .client import ConnectionPool
from .connection import Answer
from .wire import Request, Target

REDIRECTS = frozenset({301, 302, 303, 307, 308})
ALWAYS_SENSITIVE = frozenset({"authorization", "proxy-authorization", "cookie"})


def fetch(
    pool: ConnectionPool,
    request: Request,
    timeout: float,
    max_bytes: int,
    shown: str,
    follow_redirects: int = 0,
) -> Answer:
    """The final answer to ``request``, after at most ``follow_redirects`` redirects.

    The whole exchange, waiting for a connection slot included, fits in ``timeout``.
    """
    deadline = time.monotonic() + timeout
    if pool.max_connections is None:
        answer = _follow(pool, request, deadline, max_bytes, shown, follow_redirects)
    else:
        with pool.slot(deadline, shown):
            answer = _follow(pool, request, deadline, max_bytes, shown, follow_redirects)
    if 300 <= answer.status < 400:
        raise CallError("bad_response", _refusal(answer, shown, follow_redirects))
    return answer


def _follow(
    pool: ConnectionPool,
    request: Request,
    deadline: float,
    max_bytes: int,
    shown: str,
    follow_redirects: int,
) -> Answer:
    answer = pool.send(request, deadline, max_bytes, shown)
    for hop in range(1, follow_redirects + 1):
        if answer.status not in REDIRECTS or answer.location is None:
            break
        request = next_request(request, answer, shown)
        answer = pool.send(request, deadline, max_bytes, f"{shown} (after {_hops(hop)})")
    return answer


def next_request(request: Request, answer: Answer, shown: str) -> Request:
    """The request a redirect answer asks for."""
    url = urljoin(request.url, (answer.location or "").strip())
    if not url.startswith(("http://", "https://")):
        raise CallError("bad_response", f"{shown} redirected to a URL that is not http(s)")
    method, body = request.method, request.body
    if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
        method, body = "GET", None
    headers = request.headers
    if body is None:
        headers = tuple((n, v) for n, v in headers if n.lower() != "content-type")
    try:
        target = Target.parse(url)
    except ValueError:
        raise CallError("bad_response", f"{shown} redirected to a malformed URL") from None
    if leaves_origin(request.target, target):
        dropped = request.sensitive | ALWAYS_SENSITIVE
        headers = tuple((n, v) for n, v in headers if n.lower() not in dropped)
    return replace(request, method=method, url=url, headers=headers, body=body)


def leaves_origin(old: Target, new: Target) -> bool:
    """Whether credentials for ``old`` must not go to ``new`` (requests' rule)."""
    if old.host != new.host:
        return True
    if (old.scheme, old.port, new.scheme, new.port) == ("http", 80, "https", 443):
        return False
    return (old.scheme, old.port) != (new.scheme, new.port)


def _refusal(answer: Answer, shown: str, follow_redirects: int) -> str:
    if answer.status not in REDIRECTS:
        return f"{shown} answered HTTP {answer.status}"
    if answer.location is None:
        return f"{shown} answered HTTP {answer.status}, a redirect without a Location"
    if follow_redirects == 0:
        return (
            f"{shown} answered HTTP {answer.status}, a redirect, which was not followed"
            " (redirects are not followed unless follow_redirects = N allows them)"
        )
    return f"{shown} redirected more than {follow_redirects} times (follow_redirects)"


def _hops(count: int) -> str:
    return "1 redirect" if count == 1 else f"{count} redirects"
