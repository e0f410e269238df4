"""LPUSH onto a Redis list without waiting for each reply: what the load generator's producers use.

Waiting for the reply of every LPUSH costs a sleep and a wake-up per task (0.10 ms of CPU per round
trip on a 2-core VM, under gevent): the load generator would take that from the workers it measures.
Here each push is written at once (`enqueued_ns` is when the broker's socket took it) and the
replies are read as they arrive, before the next push and at the end (`settle`), in the order the
pushes went out: a push the server refused is still counted as an enqueue failure, by its task id.
A failed write fails the push at once.
"""

from __future__ import annotations

import threading
from collections import deque

SETTLE_TIMEOUT_S = 10.0
"""At the end, how long the last replies may take before the pushes still unanswered count as failed."""


class ListPusher:
    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._connection = self._client.connection_pool.get_connection()
        self._connection.connect()
        self._pending: deque[str] = deque()
        self._errors: dict[str, str] = {}
        # One connection for every Locust user of the process: a command must not be cut by another's
        # (this lock is gevent's under the load generator's monkey-patching).
        self._lock = threading.Lock()

    def push(self, key: str, payload: bytes | str, task_id: str) -> None:
        with self._lock:
            self._read_replies(block=False)
            self._connection.send_packed_command(self._connection.pack_command("LPUSH", key, payload))
            self._pending.append(task_id)

    def settle(self) -> dict[str, str]:
        """Read every outstanding reply; the pushes the server refused, by task id (error type)."""
        with self._lock:
            self._read_replies(block=True)
        return dict(self._errors)

    def _read_replies(self, block: bool) -> None:
        import redis

        try:
            while self._pending and self._connection.can_read(timeout=SETTLE_TIMEOUT_S if block else 0):
                task_id = self._pending[0]
                try:
                    self._connection.read_response()
                except redis.ResponseError as exc:  # the server's refusal of this one push (OOM, wrong type...)
                    self._errors[task_id] = type(exc).__name__
                self._pending.popleft()
            if block and self._pending:
                raise TimeoutError(f"no reply in {SETTLE_TIMEOUT_S} s")
        except (redis.RedisError, OSError) as exc:  # the server is gone: what it did not answer is not known sent
            self._errors.update(dict.fromkeys(self._pending, type(exc).__name__))
            self._pending.clear()
