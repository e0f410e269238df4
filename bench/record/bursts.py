"""A burst step's figures, burst by burst: how long the queue took to empty after each fan-out.

For each burst (its tasks all due at the same instant): the drain time, from its first send to its
last task's end; its last task's latency (from the burst's scheduled time, so the send is in it);
the most connections open to the database while it drained (pg_stat_activity samples); its failed
tasks. steps.csv gets the median and the largest over the step's bursts; bursts.csv one row each.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.record.collect import TaskRecord
from bench.measures import Enqueue
from bench.measures import Sample

EMPTY = {
    "bursts": None,
    "burst_drain_median_s": None,
    "burst_drain_max_s": None,
    "burst_last_latency_max_ms": None,
    "burst_connections_peak": None,
}


def burst_facts(
    start_ns: int, period_s: float, measured: list[Enqueue], records: dict[str, TaskRecord], samples: list[Sample]
) -> list[dict]:
    """One fact per burst of a burst step, in order."""
    period_ns = round(period_s * 1e9)
    by_burst: dict[int, list[Enqueue]] = defaultdict(list)
    for e in measured:
        by_burst[round((e.scheduled_ns - start_ns) / period_ns)].append(e)
    facts: list[dict] = []
    for burst, enqueues in sorted(by_burst.items()):
        done = [records[e.task_id] for e in enqueues if e.task_id in records]
        sent = [e.send_started_ns for e in enqueues if e.send_started_ns]
        if not done or not sent:
            facts.append(
                {
                    "burst": burst,
                    "tasks": len(enqueues),
                    "drain_s": None,
                    "last_latency_ms": None,
                    "connections_peak": None,
                    "failed": sum(1 for r in done if r.error),
                }
            )
            continue
        first_sent, last_done = min(sent), max(r.finished_ns for r in done)
        peak = max((s.connections for s in samples if first_sent <= s.t_ns <= last_done), default=None)
        facts.append(
            {
                "burst": burst,
                "tasks": len(enqueues),
                "drain_s": round((last_done - first_sent) / 1e9, 4),
                "last_latency_ms": round((last_done - min(e.scheduled_ns for e in enqueues)) / 1e6, 3),
                "connections_peak": peak,
                "failed": sum(1 for r in done if r.error),
            }
        )
    return facts


def burst_columns(facts: list[dict]) -> dict:
    """steps.csv's burst columns: the median and the largest over the step's bursts."""
    if not facts:
        return dict(EMPTY)
    drains = [f["drain_s"] for f in facts if f["drain_s"] is not None]
    peaks = [f["connections_peak"] for f in facts if f["connections_peak"] is not None]
    lasts = [f["last_latency_ms"] for f in facts if f["last_latency_ms"] is not None]
    return {
        "bursts": len(facts),
        "burst_drain_median_s": statistics.median(drains) if drains else None,
        "burst_drain_max_s": max(drains, default=None),
        "burst_last_latency_max_ms": max(lasts, default=None),
        "burst_connections_peak": max(peaks, default=None),
    }
