"""LPUSH onto a Redis list without waiting for each reply: what the load generator's producers use.

Waiting for the reply of every LPUSH costs a sleep and a wake-up per task (0.10 ms of CPU per round
trip on a 2-core VM, under gevent): the load generator would take that from the workers it measures.
Here each push is written at once (`enqueued_ns` is when the broker's socket took it) and the
replies are read as they arrive, before the next push and at the end (`settle`), in the order the
pushes went out: a push the server refused is still counted as an enqueue failure, by its task id,
under Redis's error code (WRONGTYPE, OOM...). A failed write fails the push at once.

redis-py makes the connection (AUTH, SELECT, TLS); on a plain TCP or Unix socket the pushes are then
written and the replies read on its file descriptor (bench/architectures/raw_socket.py): through
redis-py and gevent's socket a push cost 0.13 ms of CPU at 200/s, on the descriptor 0.03 (a 2-core
VM). TLS records need the socket's own methods, so a rediss:// connection keeps redis-py's.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import cast
from urllib.parse import urlsplit

from bench.architectures.producer import Producer
from bench.architectures.raw_socket import WAIT_TIMEOUT_S, RawSocket


def pack_lpush(key: bytes, payload: bytes) -> bytes:
    """The RESP command LPUSH key payload."""
    return b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(payload), payload)


class ListPusher:
    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._connection = self._client.connection_pool.get_connection()
        self._connection.connect()
        self._pending: deque[str] = deque()
        self._errors: dict[str, str] = {}
        self._replies = b""
        """Bytes of replies read but not yet a whole line."""
        # connect() above opened the socket; redis-py types it as possibly None.
        self._socket = (
            None if urlsplit(url).scheme == "rediss" else RawSocket(cast(socket.socket, self._connection._sock))
        )
        # One connection for every Locust user of the process: a command must not be cut by another's
        # (this lock is gevent's under the load generator's monkey-patching).
        self._lock = threading.Lock()

    def write(self, command: bytes, task_id: str) -> None:
        """Send a packed LPUSH (pack_lpush) for `task_id`; its reply is read later."""
        with self._lock:
            self._read_replies(block=False)
            if self._socket is None:
                self._connection.send_packed_command([command])  # a list of chunks: bytes would be sent int by int
            else:
                self._socket.write(command)
            self._pending.append(task_id)

    def settle(self) -> dict[str, str]:
        """Read every outstanding reply; the pushes the server refused, by task id (error code)."""
        with self._lock:
            self._read_replies(block=True)
        return dict(self._errors)

    def _read_replies(self, block: bool) -> None:
        try:
            while self._pending:
                chunk = self._read(block)
                if chunk is None:
                    return
                if not chunk:
                    raise ConnectionResetError("the broker closed the connection")
                *lines, self._replies = (self._replies + chunk).split(b"\r\n")
                for line in lines:  # LPUSH answers one line: ":length" or "-CODE message"
                    task_id = self._pending.popleft()
                    if line.startswith(b"-"):
                        self._errors[task_id] = line[1:].split(b" ", 1)[0].decode(errors="replace")
        except OSError as exc:  # the server is gone: what it did not answer is not known sent
            self._errors.update(dict.fromkeys(self._pending, type(exc).__name__))
            self._pending.clear()

    def _read(self, block: bool) -> bytes | None:
        """What has arrived; None if nothing has and `block` is false."""
        return self._read_through_redis_py(block) if self._socket is None else self._socket.read(block)

    def _read_through_redis_py(self, block: bool) -> bytes | None:
        import redis

        try:
            if not self._connection.can_read(timeout=WAIT_TIMEOUT_S if block else 0):
                if block:
                    raise TimeoutError(f"no reply in {WAIT_TIMEOUT_S} s")
                return None
            reply = self._connection.read_response(disable_decoding=True)
        except redis.ResponseError as exc:
            return b"-" + str(exc).encode() + b"\r\n"
        except redis.ConnectionError as exc:
            raise ConnectionResetError(str(exc)) from exc
        return b":%d\r\n" % reply


class ListPushProducer(Producer):
    """A producer whose messages are LPUSHes onto a Redis list: `prepare` packs the whole command
    (`pack_command`), so that `deliver`, at the task's time, only writes it."""

    def __init__(self, url: str) -> None:
        self._pusher = ListPusher(url)

    @staticmethod
    def pack_command(key: str, payload: bytes | str) -> bytes:
        return pack_lpush(key.encode(), payload.encode() if isinstance(payload, str) else payload)

    def deliver(self, message: bytes, task_id: str) -> None:
        self._pusher.write(message, task_id)

    def settle(self) -> dict[str, str]:
        return self._pusher.settle()
