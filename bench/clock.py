"""Clocks that can be compared across hosts.

Every time bench measures is CLOCK_MONOTONIC of the process that takes it. On one host all
processes share that clock; on several they do not, so each agent (a worker process) estimates how
its clock stands against a common reference, the control channel's clock (Redis `TIME`, the wall
clock of the host bench runs on), and bench does the same: the difference of the two estimates turns
the agent's times into bench's.

An estimate takes several round trips and keeps the one with the smallest round trip, as NTP does:
the reference was read somewhere inside it, so the offset is known to within half of it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

SKEW_ENV = "BENCH_TEST_CLOCK_SKEW_NS"
"""Test-only: nanoseconds added to this process's clock, to check that the estimate finds them."""
_SKEW_NS = int(os.environ.get(SKEW_ENV, "0") or 0)
WORKER_SKEW_ENV = "BENCH_TEST_WORKER_CLOCK_SKEW_MS"
"""Test-only: ms that `bench run` (or a `bench worker` agent) adds to its workers' clocks."""
SAMPLES = 8


def monotonic_ns() -> int:
    """This process's CLOCK_MONOTONIC, as bench's measurements read it."""
    return time.monotonic_ns() + _SKEW_NS


@dataclass(frozen=True)
class ClockOffset:
    offset_ns: int
    """Reference clock minus this clock, at the same instant."""
    uncertainty_ns: int
    """Half the round trip of the sample it comes from: the true offset lies within ± this."""


def estimate_offset(
    read_reference_ns: Callable[[], int], samples: int = SAMPLES, clock: Callable[[], int] = monotonic_ns
) -> ClockOffset:
    """The offset of `clock` to a reference read by `read_reference_ns` (one round trip each)."""
    best: ClockOffset | None = None
    for _ in range(samples):
        before = clock()
        reference = read_reference_ns()
        after = clock()
        half_rtt = (after - before) // 2
        if best is None or half_rtt < best.uncertainty_ns:
            best = ClockOffset(reference - (before + half_rtt), half_rtt)
    if best is None:
        raise ValueError("clock offset: samples must be at least 1")
    return best


def redis_time_ns(client) -> int:
    """The Redis server's clock (`TIME`: seconds and microseconds), in ns."""
    seconds, micros = client.time()
    return int(seconds) * 1_000_000_000 + int(micros) * 1_000
