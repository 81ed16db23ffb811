"""The gunicorn worker of ``fanout serve``: gevent, with connections shared out evenly.

gunicorn's workers race to accept from one listening socket, and kept-alive
connections stay with the worker that accepted them. Measured at 200 concurrent
clients with 2 workers, the split came out 153/47 or 24/30/30/116 with 4: the
busy worker's single event loop then sets the latency for everybody while a core
idles. Here each worker publishes its live connection count in memory shared by
the master, and stops accepting while it holds more than its share (the others
take the next connections); a short timer lets it accept again once the others
caught up.

The worker is gevent's pywsgi server (gunicorn's ``gevent_pywsgi``): it honours
``Connection: close`` from the app and costs a little less CPU per request than
gunicorn's own parser on gevent. Its handler is trimmed where a profile at 1,500
clients showed waste: request header fields are parsed without the ``email``
package, and a response's head and body go out in one system call.

Why overrides rather than stock pywsgi or another server (reckoned again when
the layout moved this module): pywsgi has no hook for either trim, and its
stock path costs about 100 us of CPU per 503 against 57-68 us here (README,
"Command line"); the overrides are two methods, each covered by the fault
suite's header-limit and smuggling tests (tests/faults/test_worker.py,
tests/faults/test_security.py), so they stay until pywsgi offers the same.
"""

from __future__ import annotations

import multiprocessing.sharedctypes
import re
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.handlers import format_date_time

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

from ..admission import set_queue_delay_probe

_MAX_SLOTS = 64
# A worker may hold this many connections more than an even share before it
# stops accepting: a little slack keeps accepting cheap at low concurrency.
_SLACK = 4
_RECHECK_SECONDS = 0.02

# struct tcp_info: for a listening socket Linux reports the accept queue's
# current length in tcpi_unacked (after 8 bytes of u8 fields and 4 u32 fields).
_TCP_INFO_UNACKED = 24

_counts: memoryview | None = None
"""Shared ints, one slot per live worker, made in the master: a memoryview of a
``RawArray``, since ``sum`` over it takes 0.4 us against 4.5 us over the ctypes
array, and it runs before every accept (6 % of a worker's CPU with clients that
connect per request, py-spy)."""
_free_slots: list[int] = []


def master_starting() -> None:
    """Create the shared counters; runs in the master before any worker forks."""
    global _counts
    _counts = memoryview(multiprocessing.sharedctypes.RawArray("i", _MAX_SLOTS)).cast("B").cast("i")
    _free_slots[:] = list(range(_MAX_SLOTS))


def assign_slot(worker: Any) -> None:
    """gunicorn ``pre_fork`` (master): give the new worker a counter slot."""
    worker.fanout_slot = _free_slots.pop(0) if _free_slots else None


def release_slot(worker: Any) -> None:
    """gunicorn ``child_exit`` (master): forget the dead worker's connections."""
    slot = getattr(worker, "fanout_slot", None)
    if slot is not None and _counts is not None:
        _counts[slot] = 0
        _free_slots.append(slot)


_MAX_HEADER_LINE = 65536  # http.client's limit, which pywsgi used
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


class _RequestHeaders:
    """A request's header fields, with the part of ``http.client.HTTPMessage`` pywsgi uses.

    pywsgi parses them with the ``email`` package, about a fifth of the CPU of a
    request turned away with a 503 (py-spy at 1,500 clients); the fields of an HTTP
    request need much less. A line that is not ``name: value`` (obsolete line
    folding, whitespace before the colon, a CR or NUL in a value) or a second
    Content-Length makes the request a 400, as RFC 9112 asks; so does going past
    gunicorn's ``limit_request_fields`` or ``limit_request_field_size``.
    """

    def __init__(self, rfile: Any, max_fields: int, max_field_size: int) -> None:
        self.status = ""
        self._fields: list[tuple[str, str]] = []
        for _ in range(max_fields + 1):
            line = rfile.readline(_MAX_HEADER_LINE + 1)
            if len(line) > _MAX_HEADER_LINE:
                self.status = "Line too long"
                return
            if line in (b"\r\n", b"\n", b""):
                if sum(name.lower() == "content-length" for name, _ in self._fields) > 1:
                    self.status = "More than one Content-Length"  # a smuggling attempt
                return
            name, colon, value = line.decode("latin-1").partition(":")
            value = value.strip(" \t\r\n")
            if not colon or not _FIELD_NAME.match(name) or "\r" in value or "\0" in value:
                self.status = "Invalid header line"
                return
            if len(name) + len(value) + 2 > max_field_size:
                self.status = f"A header field is longer than {max_field_size} bytes"
                return
            self._fields.append((name, value))
        self.status = f"More than {max_fields} header fields"

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for field, value in self._fields:
            if field.lower() == name:
                return value
        return default

    getheader = get

    def __delitem__(self, name: str) -> None:
        self._fields = [f for f in self._fields if f[0].lower() != name.lower()]

    @property
    def headers(self) -> Iterator[str]:
        """The fields as pywsgi's environ builder reads them back: ``name: value`` lines."""
        for name, value in self._fields:
            yield f"{name}: {value}\r\n"

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")


_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """``Date``'s value for now (RFC 9110 5.6.7), formatted once a second."""
    global _date
    second, value = _date
    now = int(time.time())
    if now != second:
        value = format_date_time(now).encode("ascii")
        _date = (now, value)  # one assignment: a thread never sees half of it
    return value


class _QuietHandler(PyWSGIHandler):
    """No per-request access-log record (the app logs), and a request's headers
    parsed (within gunicorn's limits) and a response's head and body sent for less."""

    def MessageClass(self, rfile: Any, *_args: Any) -> _RequestHeaders:
        return _RequestHeaders(rfile, *self.server.header_limits)

    def log_request(self) -> None:
        self.server.answered += 1  # once per response: pywsgi's hook, its line unwritten

    def _write_with_headers(self, data: bytes) -> None:
        # pywsgi sends the head, then the body: two system calls per response.
        self.headers_sent = True
        if self.provided_date is None:  # pywsgi formats the date anew for every answer
            date = _http_date()
            self.provided_date: bytes | None = date
            self.response_headers.append((b"Date", date))
        self.finalize_headers()
        if self.close_connection and not any(
            name.lower() == b"connection" for name, _ in self.response_headers
        ):
            # pywsgi closes after this answer but says so to HTTP/1.0 clients only
            # (RFC 9112 9.6: say it): wrk then took the close for an error.
            self.response_headers.append((b"Connection", b"close"))
        message = bytearray(b"HTTP/1.1 %s\r\n" % self.status)
        for name, value in self.response_headers:
            message += name
            message += b": "
            message += value
            message += b"\r\n"
        message += b"\r\n"
        if self.response_use_chunked:  # the body needs chunk framing: pywsgi's _write
            self._sendall(message)
            self._write(data)
        else:
            message += data
            self._sendall(message)

    def _sendall(self, data: bytes | bytearray) -> None:
        # One send in the usual case; pywsgi's own sendall for a rest and for errors.
        try:
            sent = self.socket.send(data)
        except OSError:
            sent = 0
        if sent < len(data):
            super()._sendall(memoryview(data)[sent:])
        self.response_length += sent


class _BalancedServer(PyWSGIServer):
    # Connections accepted per wake-up, within the share (``full`` is asked before
    # each, so the balance holds): one per event-loop turn caps clients that
    # connect per request at the loop's turn rate. The share still makes busy
    # workers take turns: a wave of 1,000 connects took ~5 s to leave the listen
    # queue at load 4 (``ss -lt``); a slack of 10-25 % of the share, tried against
    # it, gave worse p99s in two runs each.
    max_accept = 64
    slot: int | None = None
    workers = 1
    header_limits = (100, 8190)  # gunicorn's limit_request_fields, _field_size

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = 0
        self.accepted = 0
        self.answered = 0
        self._probed = (time.monotonic(), 0, 0)
        # gevent installs the pool's ``full`` as an instance attribute, which
        # would hide the method below: keep it and consult it from there.
        self._pool_full = self.__dict__.pop("full", lambda: False)

    def do_handle(self, *args: Any) -> None:
        # Counted at accept time, not when the handler greenlet first runs: in a
        # burst of connects the count must not lag behind the accepts.
        self._publish(+1)
        self.accepted += 1
        super().do_handle(*args)

    def handle(self, sock: Any, address: Any) -> None:
        try:
            super().handle(sock, address)
        finally:
            self._publish(-1)
            # Accept again at once when a connection ends rather than at the next
            # timer tick: clients that connect per request wait in the queue meanwhile.
            if self._watcher is None and self.started and not self.full():
                self.start_accepting()

    def _publish(self, change: int) -> None:
        self.live += change
        if self.slot is not None and _counts is not None:
            _counts[self.slot] = self.live

    def over_share(self) -> bool:
        if self.slot is None or _counts is None or self.workers < 2:
            return False
        total = sum(_counts)
        over: bool = self.live > total / self.workers + _SLACK
        return over

    def full(self) -> bool:
        return bool(self._pool_full()) or self.over_share()

    def start(self) -> None:
        super().start()
        self._rechecker = gevent.spawn(self._accept_again_when_fair)
        set_queue_delay_probe(self.listen_queue_wait)

    def listen_queue_wait(self) -> float:
        """Seconds an answer waited, on average, in the listen queue before it was read.

        A new connection waits depth / accept rate (the workers share one
        listening socket, so its queue drains at about ``workers`` times this
        worker's rate of accepts since the last call). Only a request that came
        on a new connection waited so: the wait is weighted by accepts per
        answer, near 1 for clients that connect per request, near 0 for
        kept-alive ones, whose requests never see the queue (while a wave of
        connects is let in, the latency of those connections' requests must not
        shrink the limit of a worker busy with kept-alive ones).
        """
        depth = listen_queue_depth(self.socket)
        now, accepted, answered = time.monotonic(), self.accepted, self.answered
        then, accepted_then, answered_then = self._probed
        self._probed = (now, accepted, answered)
        if depth <= 0 or now <= then:
            return 0.0
        accepts = accepted - accepted_then
        rate = max(accepts, 1) / (now - then) * max(self.workers, 1)
        share = min(1.0, accepts / max(answered - answered_then, 1))
        return depth / rate * share

    def _accept_again_when_fair(self) -> None:
        # Keep-alive connections rarely close, so nothing else would restart
        # accepting after ``full`` stopped it for being over the share.
        while True:
            gevent.sleep(_RECHECK_SECONDS)
            if not self.started:  # closed while this slept: its socket may be gone
                return
            if self._watcher is None and not self.full():
                self.start_accepting()


def listen_queue_depth(sock: Any) -> int:
    """Connections waiting in ``sock``'s accept queue (Linux); 0 where unknown."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (OSError, AttributeError):
        return 0
    if len(info) < _TCP_INFO_UNACKED + 4:
        return 0
    depth: int = struct.unpack_from("<I", info, _TCP_INFO_UNACKED)[0]
    return depth


class BalancedGeventWorker(GeventPyWSGIWorker):
    """``gevent_pywsgi`` with connections spread evenly over the workers."""

    wsgi_handler = _QuietHandler

    @property
    def server_class(self) -> type[_BalancedServer]:
        worker = self

        class Server(_BalancedServer):
            slot = getattr(worker, "fanout_slot", None)
            workers = worker.cfg.workers
            header_limits = (worker.cfg.limit_request_fields, worker.cfg.limit_request_field_size)

        return Server
