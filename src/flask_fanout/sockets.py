"""Sending a small message in one system call.

gevent's ``sendall`` asks the kernel for the send buffer size (a ``getsockopt``
system call) before every send, and gevent's pywsgi writes a response's head and
body with two such calls. At hundreds of requests per second on 2 cores those
extra system calls are a measurable share of a worker's CPU; a message of a few
kilobytes almost always fits in one ``send``.
"""

from __future__ import annotations

import socket


def send_message(sock: socket.socket, data: bytes | bytearray) -> None:
    """Send all of ``data``: one ``send`` in the usual case, ``sendall`` for the rest."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
