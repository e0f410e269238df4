"""A step's CPU in the unit of the drains: each role's CPU scaled by how much slower (or faster) its
cores ran in the drains than in that step, as the core-speed probe timed them (steps.csv
`core_unit_ms`, bench/probes/core_speed.py).

The capacity model takes a task's CPU cost from the rate steps and predicts the drains that follow
them. On a virtual machine whose cores ran 1.5 ms a unit in one step and 2.2 in the next drain, a task
costs the drain about half as much CPU again as the step measured; scaling each step's CPU by
drain unit / step unit puts both in the drains' speed. A run recorded before the probe (no
`core_unit_ms`) is left as it was measured.
"""

from __future__ import annotations

import statistics

from bench.probes.core_speed import ANY_CORE
from bench.record.stats import COST_OF

ROLE_OF_CPU_COLUMN = {
    cpu: "workers" if cost == "worker_cpu_ms_per_task" else cost.removesuffix("_cpu_ms_per_task")
    for cost, cpu in COST_OF.items()
}
"""Each CPU column's role as the profile's `cpus` names it (machine_cpu_percent: "machine")."""


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


def label_of(role: str, role_cpus: dict[str, str]) -> str | None:
    """The probe label of the cores a role ran on: its pinned set, or any core when none is pinned
    (the machine as a whole then too); None for the machine of a pinned run, which spans sets."""
    if not role_cpus:
        return ANY_CORE
    return role_cpus.get(role)


def at_drain_speed(rows: list[dict], reference: dict[str, float], role_cpus: dict[str, str]) -> list[dict]:
    """`rows` with each role's CPU column (and so its per-task cost) scaled by reference unit / the
    row's unit on that role's cores; rows (and roles) without both units are kept as they are."""
    if not reference:
        return rows
    scaled = []
    for row in rows:
        measured = units(row)
        row = dict(row)
        for column, role in ROLE_OF_CPU_COLUMN.items():
            label = label_of(role, role_cpus)
            value = row.get(column)
            if label in measured and label in reference and isinstance(value, (int, float)):
                factor = reference[label] / measured[label]
                row[column] = value * factor
                cost = next(cost for cost, cpu in COST_OF.items() if cpu == column)
                if isinstance(row.get(cost), (int, float)):
                    row[cost] *= factor
        scaled.append(row)
    return scaled


def speed_change(rows: list[dict], reference: dict[str, float]) -> dict[str, float]:
    """By CPU set: the drains' unit / the median unit of `rows` (above 1: the drains ran slower)."""
    change = {}
    for label, ms in reference.items():
        seen = [u[label] for row in rows if label in (u := units(row))]
        if seen:
            change[label] = round(ms / statistics.median(seen), 4)
    return change
