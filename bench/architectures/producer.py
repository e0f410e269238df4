"""What the load generator enqueues with: a producer prepares a task's message, then delivers it.

The two are apart so that the load generator can prepare the messages of the arrivals due soon in
one batch and deliver each at its time. Prepared one by one, just after the sleep until its arrival,
a message cost 0.07-0.09 ms more CPU at 200/s on a 2-core VM than prepared in a batch of 100 (the
interpreter's caches are cold after every sleep): CPU the load generator takes from the workers it
measures. A producer also called as `producer(task_id, scheduled_ns)` prepares and delivers at once.
"""

from __future__ import annotations

from typing import Any


class Producer:
    def prepare(self, task_id: str, scheduled_ns: int) -> Any:
        """The task's message, as `deliver` takes it. Nothing is sent yet."""
        raise NotImplementedError

    def deliver(self, message: Any, task_id: str) -> None:
        """Put a prepared message on the broker now; returns once the broker's socket took it."""
        raise NotImplementedError

    def settle(self) -> dict[str, str]:
        """After the last delivery: the tasks the broker refused after taking them, by task id (error
        type). Producers that wait for each answer in `deliver` have none."""
        return {}

    def __call__(self, task_id: str, scheduled_ns: int) -> None:
        self.deliver(self.prepare(task_id, scheduled_ns), task_id)


class CallProducer(Producer):
    """A producer from a function that prepares and sends in one call (Celery's own `send_task`)."""

    def __init__(self, send) -> None:
        self._send = send

    def prepare(self, task_id: str, scheduled_ns: int) -> tuple[str, int]:
        return task_id, scheduled_ns

    def deliver(self, message: tuple[str, int], task_id: str) -> None:
        self._send(*message)
