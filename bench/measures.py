"""The small records measurement produces and every layer reads: an arrival as the load generator sent
it (`Enqueue`), a sample of the benchmark's connections (`Sample`). Here, low, so that the code that
records and analyses them need not import the load generator or the probes that make them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Enqueue:
    """One arrival as the generator saw it."""

    task_id: str
    scheduled_ns: int
    send_started_ns: int
    """When the generator began the send; minus `scheduled_ns`, how late it was (send_late)."""
    enqueued_ns: int
    """When the broker accepted it (0 when enqueueing failed); minus `send_started_ns`, the send's cost."""
    error: str
    loadgen: int = 0
    """Which load generator process sent it (0 for the only one)."""


@dataclass
class Sample:
    t_ns: int
    """CLOCK_MONOTONIC time of the sample."""
    architecture: str
    step: int | None
    active: int
    idle: int
    idle_in_transaction: int
    other: int

    @property
    def connections(self) -> int:
        return self.active + self.idle + self.idle_in_transaction + self.other
