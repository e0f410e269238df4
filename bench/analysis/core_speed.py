"""How fast the cores ran in a run's drains against its rate steps, as bench's core-speed probe timed
them (core_speed.csv, bench/probes/core_speed.py).

The capacity model takes a task's CPU cost from the rate steps and predicts the drains that follow
them; on a virtual machine whose cores ran 0.51 ms a unit in the rate steps and 0.35 in the drains,
the drains had faster cores than the costs were measured on. The advice says so beside the
prediction. It does not convert the costs by it: a task's CPU followed the unit by half to all of its
change (docs/analysis.md). A run recorded before the probe has no units.
"""

from __future__ import annotations

import statistics

from bench.record.results import RunData


def median_units(run: RunData, steps: list[dict]) -> dict[str, float]:
    """The probe's unit, ms, median over `steps`, by CPU set label."""
    by_label: dict[str, list[float]] = {}
    for step in steps:
        for fact in run.side("core_speed", step):
            by_label.setdefault(fact["cpus"], []).append(fact["unit_ms"])
    return {label: statistics.median(values) for label, values in by_label.items()}


def speed_change(run: RunData, steps: list[dict], drains: list[dict]) -> dict[str, float]:
    """By CPU set: the drains' unit / that of `steps` (medians; above 1: the drains ran slower)."""
    in_steps = median_units(run, steps)
    return {
        label: round(ms / in_steps[label], 4) for label, ms in median_units(run, drains).items() if label in in_steps
    }
