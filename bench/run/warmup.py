"""Warm the workers before a rate step is measured, for as long as they need and no longer.

A fixed warm-up measured cold workers as slow ones: 8 prefork processes pinned to one core took
~10 s to start, so the recipe's 25/s step began on a backlog (its latencies fell from 5 s to 24 ms
across the measured part) and the advice called it broken at a rate it holds. Here a warm-up runs
the step's own schedule (rate, arrivals) with a load generator of its own, for at least
`warmup_seconds`, until
- every worker process has finished at least one task since the arm's workers started (records carry
  the process), or none has joined for `JOINED_S` (at a low rate a prefork pool hands every task to
  the same idle process: the others take no task in the step either), and
- its backlog is gone: the median latency of its last two runs of tasks is within 1.5x the lowest
  median of any run of as many tasks; or, every process warm, the workers finish fewer tasks than arrive
  (the rate is past what they drain: waiting longer would not drain it),
or up to `warmup_max_seconds`. Then its load generator is halted and bench waits until every task it
sent has finished, so the measured step starts on an empty queue and warm processes, with the
load generator of its own schedule. What was used is the step's `warmup_s`.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

from bench.loadgen import LoadGenerator
from bench.record.collect import TaskRecord
from bench.errors import ServerExited
from bench.schedule import StepPlan
from bench.run.step import add_records, start_loadgen

POLL_S = 0.2
SETTLED_FACTOR = 1.5
"""The last tasks' median latency within this factor of the best seen: the warm-up's backlog is gone.
Below the factor that marks a measured step unsteady (stats.UNSTEADY_FACTOR, 2): with the same 2, a
warm-up that settled at 1.9x could hand over workers whose latency still halved in the step
(gevent-pool at 10/s, 8 processes, one topology run of two: first tenth 9.2 ms, last 4.6)."""
OVER_CAPACITY = 0.9
"""Every process warm, yet the last second finished under this share of the arrivals: past capacity."""
START_DELAY_S = 0.3
CAPACITY_TASKS = 20
"""Arrivals the finishing rate is counted over, at least a second's: at 8/s one second's count (8 or
6) is too noisy to tell a rate past capacity."""
FINISH_POLL_S = 0.05
"""How often the warm-up's last tasks are looked for: the step waits on them, and most are done already."""
JOINED_S = 1.0
"""No worker process has taken its first task for this long: those that are cold stay out of the step."""


@dataclass
class WarmUp:
    """What the warm-up of one step did."""

    seconds: float
    """From its first arrival to the end of the step's warm-up (its last task finished)."""
    processes: int
    """Worker processes that finished one of its tasks."""
    reason: str
    """"settled", "past capacity" or "limit" (warmup_max_seconds reached first)."""
    tasks: int
    """Its tasks that finished."""


def warm_plan(plan: StepPlan, max_s: float) -> StepPlan:
    """The step's schedule, as a warm-up of its own (task ids "w<index>.<repetition>.<seq>")."""
    return dataclasses.replace(plan, warmup_s=0.0, measure_s=max_s, phase="w")


def warm_up(
    ctx,
    plan: StepPlan,
    min_s: float,
    max_s: float,
    processes: int,
    warm: dict,
    loadgen: LoadGenerator | None = None,
) -> WarmUp:
    """Run the warm-up of `plan` (see the module docstring); `processes`: worker processes expected;
    `warm`: the arm's worker processes that have finished a task, (host, pid) -> when first seen (ns),
    kept up to date; `loadgen`: one started for its schedule (`warm_plan`) already."""
    schedule = warm_plan(plan, max_s)
    loadgen = loadgen or start_loadgen(ctx, schedule)
    records: dict[str, TaskRecord] = {}
    try:
        loadgen.wait_ready()
        start_ns = time.monotonic_ns() + round(START_DELAY_S * 1e9)
        loadgen.go(start_ns)
        reason = _until_warm(ctx, schedule, records, start_ns, min_s, max_s, processes, warm)
        enqueues = loadgen.halt()
    finally:
        loadgen.stop()
    _until_finished(ctx, schedule, records, {e.task_id for e in enqueues if not e.error}, warm)
    end_ns = max((r.finished_ns for r in records.values()), default=time.monotonic_ns())
    return WarmUp((end_ns - start_ns) / 1e9, len({(r.host, r.pid) for r in records.values()}), reason, len(records))


def _until_warm(
    ctx, plan: StepPlan, records: dict, start_ns: int, min_s: float, max_s: float, processes: int, warm: dict
) -> str:
    rate_per_s = plan.rate_per_s
    assert rate_per_s is not None, "a warm-up is paced (a drain is warmed at a modest rate, StepRunner)"
    while True:
        time.sleep(POLL_S)
        now = time.monotonic_ns()
        _note_warm(warm, add_records(ctx.reader, plan, records), now)
        if (reason := ctx.server_exited()) is not None:
            raise ServerExited(reason)
        elapsed_s = (now - start_ns) / 1e9
        if elapsed_s >= max_s:
            return "limit"
        joining = warm and now - max(warm.values()) < JOINED_S * 1e9
        if elapsed_s < min_s or (len(warm) < processes and (joining or not warm)):
            continue
        if settled(list(records.values()), rate_per_s):
            return "settled"
        window_s = max(1.0, CAPACITY_TASKS / rate_per_s)
        # Only once a whole window lies after the first arrivals have had time to finish.
        if elapsed_s >= window_s + 1.0 and _finishing_rate(records.values(), window_s) < OVER_CAPACITY * rate_per_s:
            return "past capacity"


def settled(records: list[TaskRecord], rate_per_s: float) -> bool:
    """The median latency of the last run of tasks, and of the run before it, are within SETTLED_FACTOR
    of the lowest median of any run of as many consecutive tasks (by finish); runs of half a second of
    arrivals, 5 to 50 tasks. Both, since while a backlog drains the latest run is always the best yet."""
    size = max(5, min(50, round(rate_per_s / 2)))
    latencies = [r.finished_ns - r.scheduled_ns for r in sorted(records, key=lambda r: r.finished_ns)]
    if len(latencies) < 2 * size:
        return False
    medians = [
        statistics.median(latencies[i : i + size]) for i in range(0, len(latencies) - size + 1, max(1, size // 2))
    ]
    last, before = statistics.median(latencies[-size:]), statistics.median(latencies[-2 * size : -size])
    return max(last, before) <= SETTLED_FACTOR * min(medians)


def _finishing_rate(records, window_s: float = 1.0) -> float:
    now = time.monotonic_ns()
    return sum(1 for r in records if now - r.finished_ns <= window_s * 1e9) / window_s


def _until_finished(ctx, plan: StepPlan, records: dict, sent: set[str], warm: dict) -> None:
    """Wait until every task the warm-up sent has finished (or none has for the drain timeout)."""
    deadline = time.monotonic() + ctx.drain_timeout_s
    while not sent <= records.keys() and time.monotonic() < deadline:
        if added := add_records(ctx.reader, plan, records):
            _note_warm(warm, added, time.monotonic_ns())
            deadline = time.monotonic() + ctx.drain_timeout_s
        time.sleep(FINISH_POLL_S)


def _note_warm(warm: dict, records: list[TaskRecord], now_ns: int) -> None:
    for record in records:
        warm.setdefault((record.host, record.pid), now_ns)
