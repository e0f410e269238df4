"""What the burst steps say (rate "burst": a Celery beat fan-out): for each arm, how long its queue
took to empty after each burst, set beside what its own saturation drain rate predicts."""

from __future__ import annotations

import statistics

from bench.record.results import RunData


def burst_summary(run: RunData) -> dict[str, dict]:
    """Per arm with a burst step: its bursts' drain times (median, max), what its saturation drain
    rate predicts for one burst, the most connections open and the failed tasks. Each burst step is
    predicted from the arm's saturation steps nearest it (the one before and the one after), so a
    profile that interleaves them (max, burst, max, burst, max) sets each burst beside drains of the
    same minute: a machine that slows down over an arm's run moves both figures together."""
    out: dict[str, dict] = {}
    for row in run.burst_steps:
        facts = run.side("bursts", row)
        if not facts:
            continue
        entry = out.setdefault(
            row["architecture"],
            {"drains_s": [], "connections_peak": 0, "failed": 0, "tasks": facts[0]["tasks"], "predictions_s": []},
        )
        drains = [f["drain_s"] for f in facts if f["drain_s"] is not None]
        entry["drains_s"] += drains
        rate = _nearest_drain_rate(run, row)
        entry["predictions_s"] += [entry["tasks"] / rate if rate else None] * len(drains)
        entry["connections_peak"] = max([entry["connections_peak"], *(f["connections_peak"] or 0 for f in facts)])
        entry["failed"] += sum(int(f["failed"] or 0) for f in facts)
    for entry in out.values():
        predictions = [p for p in entry.pop("predictions_s") if p is not None]
        drains = entry["drains_s"]
        entry["predicted_drain_s"] = statistics.median(predictions) if predictions else None
        entry["median_drain_s"] = statistics.median(drains) if drains else None
        entry["max_drain_s"] = max(drains, default=None)
    return out


def _nearest_drain_rate(run: RunData, burst_row: dict) -> float | None:
    """The median drain rate of the arm's saturation steps just before and just after a burst step."""
    drains = [
        r
        for r in run.steps
        if r["architecture"] == burst_row["architecture"] and r.get("saturation") and r.get("throughput_per_s")
    ]
    before = [r for r in drains if r["step"] < burst_row["step"]]
    after = [r for r in drains if r["step"] > burst_row["step"]]
    nearest = [r for side in (before[-1:] if before else [], after[:1]) for r in side]
    # A step's repetitions share its step number: take them all.
    steps = {r["step"] for r in nearest}
    rates = [r["throughput_per_s"] for r in drains if r["step"] in steps]
    return statistics.median(rates) if rates else None


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
        predicted = (
            f" (its saturation drain rate predicts {s['predicted_drain_s']:.1f} s)" if s["predicted_drain_s"] else ""
        )
        failed = f", {s['failed']:g} tasks failed" if s["failed"] else ""
        lines.append(
            f"Bursts of {s['tasks']:g} every {period:g} s: {arch} emptied its queue in {s['median_drain_s']:.1f} s "
            f"(median of {len(s['drains_s'])}, longest {s['max_drain_s']:.1f} s){predicted}, with "
            f"{s['connections_peak']:g} connections open at most{failed}."
        )
    return lines
