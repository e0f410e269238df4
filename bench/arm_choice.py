"""A run that fits the task (`probe = true`, the default profile's): a short step of the recipe tells
the task's shape, and from it the run chooses its arms and their rates.

The shape: how long a task takes in the recipe at a low rate (no queue), how much of that is opening
its connection, and how much of the rest the worker spends on its CPU. A task that mostly waits (on
the database, on an outside service) is limited by how many tasks wait at once, so the way out is an
arm that runs many per process (gevent, asyncio); one that mostly computes is limited by processes,
so the way out is a process per task with a kept connection. The recipe drains about
processes / task time (one task per prefork process at a time).

The arms: the recipe (the profile's first architecture), then of the profile's other architectures
one per adoption class (bench/architectures/base.py), the one whose concurrency suits the shape, so
the advice never depends on a class it left out. The rates: the recipe's below and above its
estimated drain, the ways out at and well above it, where they can show how far they go.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

WAITS_SHARE = 0.5
"""A task whose time past its connect is at least this share off the worker's CPU mostly waits."""
RECIPE_RATES = (0.6, 1.4)
"""The recipe's rates after the probe, as multiples of its estimated drain: one it holds, one past it.
The estimate can be high (the probe's tasks do not share the CPU: point_select here, estimated 107/s,
drained 82) or right (io_wait, estimated 46/s, held 45), so the second is well past it."""
WAY_OUT_RATES = (1.0, 2.5)
"""The ways out's rates, as multiples of the recipe's estimated drain: past the recipe, and far past it
(io_wait here: gevent-pool and async-queue held 3.5 times the recipe's drain, prefork arms 1.4). The
higher runs first; an arm that holds it is not run at the lower (`Search.stop_when_held`)."""
RATE_STEP = 5.0
"""Rates are rounded to this many tasks/s (to whole tasks/s below 50/s), so runs of the same shape
compare step by step."""


@dataclass(frozen=True)
class TaskShape:
    task_ms: float
    """The recipe's median task execution (start to end) at the probe's low rate."""
    connect_ms: float
    """Of which opening its connection (median)."""
    worker_cpu_ms: float
    """The median CPU of a recipe process over one of its tasks (one task per process at a time)."""
    processes: int
    """The recipe's worker processes (tasks at once)."""

    @property
    def wait_share(self) -> float:
        """Of the task's time past its connect, the share off the worker's CPU."""
        rest = max(self.task_ms - self.connect_ms, 1e-9)
        return min(1.0, max(0.0, 1 - self.worker_cpu_ms / rest))

    @property
    def waits(self) -> bool:
        return self.wait_share >= WAITS_SHARE

    @property
    def drain_per_s(self) -> float:
        """What the recipe drains at most: each process one task at a time."""
        return self.processes * 1000 / self.task_ms

    @classmethod
    def from_row(cls, row: dict, processes: int) -> "TaskShape":
        return cls(task_ms=float(row["exec_p50_ms"]), connect_ms=float(row.get("connect_p50_ms") or 0),
                   worker_cpu_ms=float(row["task_cpu_p50_ms"]), processes=processes)

    def as_dict(self) -> dict:
        return {**asdict(self), "wait_share": round(self.wait_share, 3), "waits": self.waits,
                "drain_per_s": round(self.drain_per_s, 1)}


def rates_for(shape: TaskShape, multiples: tuple[float, ...], above: float = 0.0) -> list[float]:
    """Rates at these multiples of the recipe's estimated drain, rounded, distinct, above `above`
    (the probe's rate)."""
    rates = []
    for multiple in multiples:
        rate = multiple * shape.drain_per_s
        step = RATE_STEP if rate >= 10 * RATE_STEP else 1.0
        rates.append(max(above + step, step * round(rate / step)))
    return sorted(set(rates))


def choose_ways_out(shape: TaskShape, candidates: list[tuple[str, type]]) -> dict[str, str]:
    """Of (arm label, architecture class) candidates, one per adoption class: the first whose
    concurrency suits the shape (many tasks per process where tasks wait, one where they compute),
    else the first of the class. {label: why it was chosen}."""
    by_class: dict[str, list[tuple[str, type]]] = {}
    for label, cls in candidates:
        if not cls.trap:
            by_class.setdefault(cls.adoption, []).append((label, cls))
    chosen = {}
    for kind, members in by_class.items():
        suited = [m for m in members if m[1].concurrent == shape.waits]
        label, cls = (suited or members)[0]
        fit = ("runs many tasks per process, for a task that mostly waits" if cls.concurrent
               else "a process per task, for a task that mostly computes")
        chosen[label] = f"{kind}; {fit}" if suited and len(members) > 1 else kind
    return chosen
