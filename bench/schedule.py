"""Arrival schedules: when each task of a step is due, as offsets from the step's start.

Open loop: arrivals are fixed in advance at absolute times, so a slow enqueue or a slow system
never pushes later arrivals back (no coordinated omission); latency is measured from these times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
BURSTS = "bursts"
"""The arrival of a burst step (rate "burst"): `burst_tasks` at once, every `burst_period_s`."""


@dataclass(frozen=True)
class StepPlan:
    """One step of a schedule: warm-up then measured load at one rate, or, for a saturation step
    (`rate_per_s` None, asked for as rate "max"), `task_count` tasks all due at once."""

    index: int
    rate_per_s: float | None
    """Offered rate, tasks/s; None for a saturation step."""
    warmup_s: float
    measure_s: float
    arrival: str
    """"uniform" (equal gaps) or "poisson" (exponential gaps)."""
    seed: int
    task_count: int = 0
    """Tasks of a saturation step."""
    repetition: int = 0
    """Which run of this step, when steps are repeated (`--repeat`)."""
    phase: str = ""
    """"w" for the warm-up of a step run on its own (bench.run.warmup); "" for the step itself."""
    burst_tasks: int = 0
    """A burst step's tasks per burst (Celery beat's fan-out), all due at once every `burst_period_s`."""
    burst_period_s: float = 0.0

    @classmethod
    def burst_step(
        cls, index: int, burst_tasks: int, period_s: float, bursts: int, seed: int, repetition: int = 0
    ) -> "StepPlan":
        """`bursts` bursts of `burst_tasks` tasks, one every `period_s`, on running workers; its rate is
        their mean. No warm-up of its own: a modest one runs before it (bench/run/step_runner.py)."""
        return cls(
            index,
            burst_tasks / period_s,
            0.0,
            bursts * period_s,
            BURSTS,
            seed,
            repetition=repetition,
            burst_tasks=burst_tasks,
            burst_period_s=period_s,
        )

    @property
    def bursts(self) -> int:
        """How many bursts a burst step sends (0 for other steps)."""
        return round(self.measure_s / self.burst_period_s) if self.burst_tasks else 0

    @classmethod
    def saturation_step(cls, index: int, task_count: int, seed: int, repetition: int = 0) -> "StepPlan":
        # No warm-up: the whole burst is measured, pool and connection start-up included.
        return cls(index, None, 0.0, 0.0, "burst", seed, task_count, repetition)

    @property
    def key(self) -> str:
        """Names this step and repetition in task ids."""
        return f"{self.phase}{self.index}.{self.repetition}"

    @property
    def saturation(self) -> bool:
        return self.rate_per_s is None

    @property
    def duration_s(self) -> float:
        return self.warmup_s + self.measure_s

    @property
    def warmup_ns(self) -> int:
        return round(self.warmup_s * NS_PER_S)

    def offsets_ns(self) -> list[int]:
        """Arrival offsets from the step's start, sorted, covering warm-up and measurement."""
        if self.saturation:
            return [0] * self.task_count
        if self.arrival == BURSTS:
            period_ns = round(self.burst_period_s * NS_PER_S)
            return [burst * period_ns for burst in range(self.bursts) for _ in range(self.burst_tasks)]
        rate_per_s = self.rate_per_s
        assert rate_per_s is not None, "a step that is neither a drain nor a burst has a rate"
        if self.arrival == "uniform":
            return uniform_offsets_ns(rate_per_s, self.duration_s)
        seed = (self.seed * 1_000_003 + self.index) * 1_009 + self.repetition
        return poisson_offsets_ns(rate_per_s, self.duration_s, random.Random(seed))

    def task_id(self, seq: int) -> str:
        return f"{self.key}.{seq}"


def share(arrival_count: int, index: int, count: int) -> range:
    """The arrivals (sequence numbers) load generator `index` of `count` sends: every count-th one from
    its index, so the shares are disjoint, their union is the whole schedule, and each stays spread
    over the step (at 1/count of the rate) rather than taking one block of it."""
    if not 0 <= index < count:
        raise ValueError(f"load generator {index} of {count}")
    return range(index, arrival_count, count)


def uniform_offsets_ns(rate_per_s: float, duration_s: float) -> list[int]:
    count = int(round(rate_per_s * duration_s))
    return [round(i * NS_PER_S / rate_per_s) for i in range(count)]


def poisson_offsets_ns(rate_per_s: float, duration_s: float, rng: random.Random) -> list[int]:
    offsets, t = [], rng.expovariate(rate_per_s)
    while t < duration_s:
        offsets.append(round(t * NS_PER_S))
        t += rng.expovariate(rate_per_s)
    return offsets


def step_key(task_id: str) -> str:
    """The `StepPlan.key` a task id belongs to."""
    return task_id.rsplit(".", 1)[0]
