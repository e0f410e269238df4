"""What the burst steps say (rate "burst": a Celery beat fan-out): for each arm, how long its queue
took to empty after each burst, set beside what its own saturation drain rate predicts."""

from __future__ import annotations

import statistics

from bench.results import RunData


def burst_summary(run: RunData) -> dict[str, dict]:
    """Per arm with a burst step: its bursts' drain times (median, max), what its saturation drain
    rate predicts for one burst, the most connections open and the failed tasks."""
    out = {}
    for row in run.burst_steps:
        facts = run.side("bursts", row)
        if not facts:
            continue
        entry = out.setdefault(row["architecture"], {"drains_s": [], "connections_peak": 0, "failed": 0,
                                                     "tasks": facts[0]["tasks"]})
        entry["drains_s"] += [f["drain_s"] for f in facts if f["drain_s"] is not None]
        entry["connections_peak"] = max([entry["connections_peak"], *(f["connections_peak"] or 0 for f in facts)])
        entry["failed"] += sum(int(f["failed"] or 0) for f in facts)
    for architecture, entry in out.items():
        drain = run.saturation(architecture)
        entry["predicted_drain_s"] = entry["tasks"] / drain.median if drain is not None and drain.median else None
        drains = entry["drains_s"]
        entry["median_drain_s"] = statistics.median(drains) if drains else None
        entry["max_drain_s"] = max(drains, default=None)
    return out


def burst_lines(run: RunData) -> list[str]:
    summary = burst_summary(run)
    if not summary:
        return []
    period = run.setting("burst_period_s")
    lines = []
    for arch, s in summary.items():
        if s["median_drain_s"] is None:
            lines.append(f"Bursts of {s['tasks']:g} every {period:g} s: {arch} finished no task of them.")
            continue
        predicted = (f" (its saturation drain rate predicts {s['predicted_drain_s']:.1f} s)"
                     if s["predicted_drain_s"] else "")
        failed = f", {s['failed']:g} tasks failed" if s["failed"] else ""
        lines.append(f"Bursts of {s['tasks']:g} every {period:g} s: {arch} emptied its queue in {s['median_drain_s']:.1f} s "
                     f"(median of {len(s['drains_s'])}, longest {s['max_drain_s']:.1f} s){predicted}, with "
                     f"{s['connections_peak']:g} connections open at most{failed}.")
    return lines
