"""How fast this machine's cores run, now: the CPU time of one fixed unit of pure computation, sampled
through the run on each CPU set.

A virtual machine's core does not run at one speed. Here a PBKDF2 of 4096 iterations took 0.93 ms one
day and 1.3 to 2.6 ms the next, and within one idle minute it moved between 1.5 and 2.6 ms from one
second to the next: the host's other tenants share the physical core (its hyperthread sibling, its
caches). Its CPU time moves with it (this is not stolen time, which the kernel counts apart), so a
task's CPU cost in ms is measured in a unit that changes under the measurement. A rate step and the
drain after it, seconds apart, can see the cores at speeds 20-30 % apart; the advice says so beside
the capacity model's prediction (bench/analysis/core_speed.py).

The unit is PBKDF2-HMAC-SHA256 (hashlib releases the GIL for it): a few hundred bytes of state, so its
time is the core's speed, not what other processes leave in the caches. Each CPU set gets a thread
pinned to it (on Linux sched_setaffinity with pid 0 pins the calling thread only); without pinned
roles, one thread on any core. Five units a second of about 0.5 ms each: a quarter of a percent of a
core, counted in bench's own CPU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
import os
import statistics
import threading
import time

from bench.processes import parse_cpu_list

UNIT_ITERATIONS = 1000
EVERY_S = 0.2
ANY_CORE = "all"
"""The label of the one probe when roles are not pinned."""


def core_sets(role_cpus: Mapping[Any, str]) -> dict[str, frozenset[int] | None]:
    """The CPU sets to sample, by the label steps.csv gives them: each set roles are pinned to (as the
    profile writes it), or one on any core."""
    if not role_cpus:
        return {ANY_CORE: None}
    return {text: frozenset(parse_cpu_list(text)) for text in dict.fromkeys(role_cpus.values())}


def _unit() -> None:
    hashlib.pbkdf2_hmac("sha256", b"bench", b"core-speed-probe", UNIT_ITERATIONS)


class CoreSpeedProbe:
    """One sampling thread per CPU set; `medians` reads a window of them."""

    def __init__(self, cpu_sets: dict[str, frozenset[int] | None]) -> None:
        """`cpu_sets`: label ("0", "1-3", or ANY_CORE) to the cores to pin to (None: any)."""
        self.samples: dict[str, list[tuple[int, float]]] = {label: [] for label in cpu_sets}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._sample, args=(label, cpus), name=f"core-speed-{label}", daemon=True)
            for label, cpus in cpu_sets.items()
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)

    def _sample(self, label: str, cpus: frozenset[int] | None) -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        samples = self.samples[label]
        while not self._stop.is_set():
            started = time.thread_time_ns()
            _unit()
            samples.append((time.monotonic_ns(), (time.thread_time_ns() - started) / 1e6))
            self._stop.wait(EVERY_S)

    def medians(self, begin_ns: int, end_ns: int) -> dict[str, float]:
        """The unit's median CPU ms on each set between two CLOCK_MONOTONIC times (sets with no sample
        in it are left out)."""
        found = {}
        for label, samples in self.samples.items():
            inside = [ms for at, ms in list(samples) if begin_ns <= at <= end_ns]
            if inside:
                found[label] = round(statistics.median(inside), 4)
        return found
