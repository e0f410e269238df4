"""How fast the cores ran in a run's drains against its rate steps, as bench's core-speed probe timed
them (steps.csv `core_unit_ms`, bench/probes/core_speed.py).

The capacity model takes a task's CPU cost from the rate steps and predicts the drains that follow
them; on a virtual machine whose cores ran 0.51 ms a unit in the rate steps and 0.35 in the drains,
the drains had faster cores than the costs were measured on. The advice says so beside the
prediction. It does not convert the costs by it: a task's CPU followed the unit by half to all of its
change (docs/analysis.md). A run recorded before the probe (no `core_unit_ms`) has no units.
"""

from __future__ import annotations

import statistics


def units(row: dict) -> dict[str, float]:
    """`core_unit_ms` of a steps.csv row, by CPU set label ({} when the run had no probe)."""
    found = {}
    for part in str(row.get("core_unit_ms") or "").split(";"):
        label, _, ms = part.partition("=")
        if ms:
            found[label] = float(ms)
    return found


def drains_unit(drains: list[dict]) -> dict[str, float]:
    """The unit's median over the drains, by CPU set label."""
    by_label: dict[str, list[float]] = {}
    for row in drains:
        for label, ms in units(row).items():
            by_label.setdefault(label, []).append(ms)
    return {label: statistics.median(values) for label, values in by_label.items()}


def speed_change(rows: list[dict], reference: dict[str, float]) -> dict[str, float]:
    """By CPU set: the drains' unit / the median unit of `rows` (above 1: the drains ran slower)."""
    change = {}
    for label, ms in reference.items():
        seen = [u[label] for row in rows if label in (u := units(row))]
        if seen:
            change[label] = round(ms / statistics.median(seen), 4)
    return change
