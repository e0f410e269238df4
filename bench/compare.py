"""Comparing two runs step by step: baseline, contender, difference, and whether it is real.

Rows are matched by (architecture, step). With repetitions on both sides (`--repeat`), a metric's
difference is tested with Welch's t-test at 95 %: inside the noise it is "not significant" rather
than better or worse. Without repetitions nothing tells noise from change, so only the direction
is given.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from bench.results import RunData
from bench.stats import t95


@dataclass(frozen=True)
class Metric:
    column: str
    higher_is_better: bool


HEADLINE = [
    Metric("throughput_per_s", True), Metric("achieved_rate_per_s", True),
    Metric("latency_p50_ms", False), Metric("latency_p99_ms", False),
    Metric("connect_p50_ms", False), Metric("sessions_per_task", False),
    Metric("connections_peak", False), Metric("failed", False), Metric("cpu_percent", False),
]


@dataclass
class Difference:
    architecture: str
    step: str
    """The step's rate ("50/s") or "max"."""
    metric: str
    higher_is_better: bool
    baseline: float
    contender: float
    verdict: str
    """better, worse, same, not significant."""

    @property
    def diff(self) -> float:
        return self.contender - self.baseline

    @property
    def diff_percent(self) -> float:
        return 100 * self.diff / self.baseline if self.baseline else math.nan


def compare_runs(baseline: RunData, contender: RunData) -> list[Difference]:
    a, b = _groups(baseline), _groups(contender)
    differences = []
    for key in (k for k in a if k in b):
        architecture, step = key
        for metric in HEADLINE:
            xs, ys = _values(a[key], metric.column), _values(b[key], metric.column)
            if xs and ys:
                differences.append(Difference(architecture, step, metric.column, metric.higher_is_better,
                                              _mean(xs), _mean(ys), verdict(xs, ys, metric.higher_is_better)))
    return differences


def verdict(xs: list[float], ys: list[float], higher_is_better: bool) -> str:
    diff = _mean(ys) - _mean(xs)
    if diff == 0:
        return "same"
    if len(xs) >= 2 and len(ys) >= 2 and not welch_significant(xs, ys):
        return "not significant"
    return "better" if (diff > 0) == higher_is_better else "worse"


def welch_significant(xs: list[float], ys: list[float]) -> bool:
    """Whether the means differ at 95 % by Welch's t-test (unequal variances)."""
    va, vb = _variance(xs) / len(xs), _variance(ys) / len(ys)
    diff = _mean(ys) - _mean(xs)
    if va + vb == 0:
        return diff != 0
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(xs) - 1) if va else 0) + (vb ** 2 / (len(ys) - 1) if vb else 0))
    return abs(t) > t95(df)


def step_label(row: dict) -> str:
    return "max" if row.get("saturation") else f"{row['offered_rate_per_s']:g}/s"


def _groups(run: RunData) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in run.steps:
        groups[(row["architecture"], step_label(row))].append(row)
    return groups


def _values(rows: list[dict], column: str) -> list[float]:
    return [r[column] for r in rows if r.get(column) is not None and not math.isnan(r[column])]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _variance(values: list[float]) -> float:
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)
