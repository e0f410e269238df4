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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.architectures.base import Architecture

WAITS_SHARE = 0.5
"""A task whose time past its connect is at least this share off the worker's CPU mostly waits."""
RECIPE_RATES = (0.6,)
"""The recipe's rate after the probe, as a multiple of its estimated drain: one it holds (the estimate
can be high: the probe's tasks do not share the CPU; point_select here, estimated 107/s, drained 82).
How far past it the recipe cannot go is its measured ceiling (below), not a rate step that breaks."""
CEILING_DRAIN_S = 1.0
"""A ceiling is the median of the saturation drains of a "max" step's repetitions (queue filled, then
drained with the sender idle; the default profile runs three), each of as many tasks as the arm's expected rate drains in about this long: long enough
that the first tasks' start is a small part of it, short enough for the default run's 2 minutes."""
CEILING_MIN_TASKS = 150
CEILING_MARGIN = 0.8
"""A way out runs only the rates within this share of its measured ceiling: at 94 % and at 90 % of its
median drain rate prefork-loop-pool fell behind here (a step that breaks costs the most time of any:
its backlog), and then runs a lower rate besides."""
CEILING_SHARE = 0.8
"""A way out whose measured ceiling lies below every rate it was to run is run at this share of its
ceiling instead, so the advice knows a rate it holds."""
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
        return cls(
            task_ms=float(row["exec_p50_ms"]),
            connect_ms=float(row.get("connect_p50_ms") or 0),
            worker_cpu_ms=float(row["task_cpu_p50_ms"]),
            processes=processes,
        )

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "wait_share": round(self.wait_share, 3),
            "waits": self.waits,
            "drain_per_s": round(self.drain_per_s, 1),
        }


def rates_for(shape: TaskShape, multiples: tuple[float, ...], above: float = 0.0) -> list[float]:
    """Rates at these multiples of the recipe's estimated drain, rounded, distinct, above `above`
    (the probe's rate)."""
    rates = []
    for multiple in multiples:
        rate = multiple * shape.drain_per_s
        rates.append(max(above + _rate_step(rate), rounded_rate(rate)))
    return sorted(set(rates))


def _rate_step(rate: float) -> float:
    return RATE_STEP if rate >= 10 * RATE_STEP else 1.0


def rounded_rate(rate: float) -> float:
    """To RATE_STEP tasks/s (whole tasks/s below 50/s), at least 1."""
    step = _rate_step(rate)
    return max(1.0, step * round(rate / step))


def ceiling_tasks(expected_rate: float, most: int) -> int:
    """Tasks of each of a ceiling's drains: about CEILING_DRAIN_S of the expected rate, within
    CEILING_MIN_TASKS and `most` (the profile's saturation_tasks)."""
    return int(min(most, max(CEILING_MIN_TASKS, round(CEILING_DRAIN_S * expected_rate))))


def rates_under_ceiling(rates: list, ceiling_per_s: float | None) -> list:
    """Of a way out's rates, those within CEILING_MARGIN of its measured ceiling (a median drain rate);
    where none is, CEILING_SHARE of the ceiling. Kinds of step ("max", "burst") stay."""
    if not ceiling_per_s:
        return rates
    kept = [r for r in rates if isinstance(r, str) or r <= CEILING_MARGIN * ceiling_per_s]
    if any(not isinstance(r, str) for r in kept) or not any(not isinstance(r, str) for r in rates):
        return kept
    return [*kept, rounded_rate(CEILING_SHARE * ceiling_per_s)]


def choose_ways_out(shape: TaskShape, candidates: list[tuple[str, type[Architecture]]]) -> dict[str, str]:
    """Of (arm label, architecture class) candidates, one per adoption class: the first whose
    concurrency suits the shape (many tasks per process where tasks wait, one where they compute),
    else the first of the class. {label: why it was chosen}."""
    by_class: dict[str, list[tuple[str, type[Architecture]]]] = {}
    for label, cls in candidates:
        if not cls.trap:
            by_class.setdefault(cls.adoption, []).append((label, cls))
    chosen = {}
    for kind, members in by_class.items():
        suited = [m for m in members if m[1].concurrent == shape.waits]
        label, cls = (suited or members)[0]
        fit = (
            "runs many tasks per process, for a task that mostly waits"
            if cls.concurrent
            else "a process per task, for a task that mostly computes"
        )
        chosen[label] = f"{kind}; {fit}" if suited and len(members) > 1 else kind
    return chosen
