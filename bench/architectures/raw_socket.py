"""Writes and reads on a connected socket's file descriptor, not through the socket object.

The load generator's producers write one small message per task. Through gevent's socket wrapper
(and redis-py's or py-amqp's layers over it) a write and a look for replies cost 0.1 ms of CPU more
per task at 200/s than os.write/os.read on the descriptor (a 2-core VM): CPU the load generator
takes from the workers it measures. The library that made the connection (authentication, virtual
host, database) hands over its socket; from then on only this writes or reads it. The descriptor is
made non-blocking; a full buffer waits with select, which gevent makes cooperative.
"""

from __future__ import annotations

import os
import select
import socket

WAIT_TIMEOUT_S = 10.0
"""How long a write waits for room in the buffer, or a blocking read for a reply."""


class RawSocket:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock  # kept: the descriptor is closed with it
        self._fd = sock.fileno()
        os.set_blocking(self._fd, False)  # already so under gevent; a plain process must not block in read

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:  # the buffer is full (a broker that stopped reading)
                if not select.select([], [self._fd], [], WAIT_TIMEOUT_S)[1]:
                    raise TimeoutError(f"the broker took nothing in {WAIT_TIMEOUT_S} s") from None

    def read(self, block: bool) -> bytes | None:
        """What has arrived (b"" once the peer closed); None if nothing has and `block` is false."""
        while True:
            try:
                return os.read(self._fd, 65536)
            except BlockingIOError:
                if not block:
                    return None
                if not select.select([self._fd], [], [], WAIT_TIMEOUT_S)[0]:
                    raise TimeoutError(f"no reply in {WAIT_TIMEOUT_S} s") from None
