"""When the warm-up's backlog is gone: the last tasks' median latency within 1.5x the best seen."""

from __future__ import annotations

from bench.record.collect import TaskRecord
from bench.record.stats import UNSTEADY_FACTOR
from bench.run.warmup import SETTLED_FACTOR, settled

GAP_MS = 50  # 20 tasks/s


def _fifo(count: int, stall_ms: float, service_ms: float = 15) -> list[TaskRecord]:
    """Arrivals every GAP_MS to one worker that starts `stall_ms` late (a cold start), then takes
    `service_ms` a task, first come first served."""
    records, free_ms = [], stall_ms
    for i in range(count):
        start_ms = max(free_ms, i * GAP_MS)
        free_ms = start_ms + service_ms
        records.append(TaskRecord(f"w0.0.{i}", round(i * GAP_MS * 1e6), round(start_ms * 1e6), round(free_ms * 1e6)))
    return records


def test_a_cold_start_settles_once_its_backlog_has_drained():
    # 20 arrivals pile up behind a 1 s start; the worker then gains 35 ms a task: the backlog is gone
    # after about 29 tasks, and two runs of 10 settled tasks later it is settled.
    assert not settled(_fifo(30, stall_ms=1000), 1000 / GAP_MS)  # the last run is the best yet; the one before is not
    assert settled(_fifo(50, stall_ms=1000), 1000 / GAP_MS)


def test_it_needs_two_runs_of_tasks_to_compare():
    assert not settled(_fifo(19, stall_ms=0), 1000 / GAP_MS)  # runs of 10 tasks at 20/s: two are needed
    assert settled(_fifo(20, stall_ms=0), 1000 / GAP_MS)


def test_a_settled_warm_up_is_stricter_than_the_unsteady_mark():
    # Settled at 1.9x the best, a step could still be marked unsteady when its latency halved in it.
    assert SETTLED_FACTOR < UNSTEADY_FACTOR
    # Runs of 10 at 20/s: the last two runs at 1.8x the best run do not settle it.
    slow_then_fast = [
        TaskRecord(
            f"w0.0.{i}", i * 50_000_000, i * 50_000_000, i * 50_000_000 + (10 if 10 <= i < 20 else 18) * 1_000_000
        )
        for i in range(40)
    ]
    assert not settled(slow_then_fast, 20)
