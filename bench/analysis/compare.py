"""Comparing two runs step by step: baseline, contender, difference, and whether the data can tell.

Rows are matched by (architecture, step). A metric gets "better" or "worse" only where the data
supports it, in this order:
1. a difference smaller than the metric's minimum effect is "same", whatever any test says;
2. with repetitions on both sides (`--repeat`, at least 2 each): Welch's t-test (scipy) at 95 %
   over the repetitions' values, else "not significant";
3. single runs (fewer than 2 repetitions on a side): latency, throughput and rates move between two
   runs of the same settings by more than any spread inside one run shows (20-30 % on a small shared
   VM; `bench compare` of two single `smoke` runs once called +21 % and +29 % in p50 and p99
   "worse"). Such a metric gets a verdict only past its drift factor (2x; 3x for p99, since a tail
   of a few tasks drifts more; or the user's `--drift-factor`): a larger difference is
   "better"/"worse" (a latency percentile must also pass a bootstrap 95 % interval over the per-task
   latencies of tasks.csv.gz, with enough tasks that at least one lies beyond the percentile), a
   smaller one "drift unknown". Every other metric has one value a side and no spread to test:
   "no repeats".

Minimum effects: 2 % for rates, throughput and sessions; 10 % for latencies, connect time and CPU,
which move by up to that between two runs of the same setting on a small shared machine (the
recorded pairs in tests/data; asv's default factor is the same 1.1); one connection for the peak
connection count, which a 20 Hz sampler sees only to the nearest connection or two.
A per-task test sees the spread inside each run, not the drift between runs, which is why its
verdicts stand only beyond the minimum effect.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import defaultdict
from dataclasses import dataclass

from bench.record.results import RunData
from bench.record.schema import PERCENTILE_METHOD

CONFIDENCE = 0.95
DRIFT_FACTOR = 2.0
"""Single runs: the ratio a latency, throughput or rate must pass for a verdict. Two single `smoke`
runs, back to back on this 2-core VM, moved p50 by up to 1.3x on a quiet day, and its 40/s step's
latency and connect p50 past 1.5x in one CI run (2026-11-30; 10/s p50 1.38x in the same pair): the
whole machine slows between runs (these VMs vary 2-3x between days), so 2x."""
TAIL_DRIFT_FACTOR = 3.0
"""The same for p99, which a few slow tasks make: two single `smoke` runs moved it by 1.9x and 2.9x
over 40 and 80 tasks beside another test process, and by 2.25x at 10/s in the CI pair above."""
BOOTSTRAP_RESAMPLES = 2000
MIN_TASKS_FOR_SAMPLE_TEST = 20


@dataclass(frozen=True)
class Metric:
    column: str
    higher_is_better: bool
    min_effect: float
    """Smallest relative difference worth a verdict (0.02 = 2 %)."""
    min_effect_abs: float = 0.0
    """Smallest absolute difference worth a verdict, in the metric's unit."""
    task_quantile: float | None = None
    """For a latency percentile: the quantile (0-100) to test on the per-task latencies of single runs."""
    drift_factor: float | None = None
    """For a latency, throughput or rate, which moves between runs of the same settings: the ratio
    single runs must pass for a verdict. None: no drift rule (one value a side gets "no repeats")."""

    def min_tasks(self) -> int:
        """Tasks a side needs for its percentile to be tested on them: one at least beyond it."""
        assert self.task_quantile is not None, "only a percentile is tested on its tasks"
        return max(MIN_TASKS_FOR_SAMPLE_TEST, math.ceil(1 / (1 - self.task_quantile / 100) - 1e-9))

    def negligible(self, baseline: float, contender: float) -> bool:
        return abs(contender - baseline) <= max(self.min_effect * abs(baseline), self.min_effect_abs)


HEADLINE = [
    Metric("throughput_per_s", True, 0.02, drift_factor=DRIFT_FACTOR),
    Metric("achieved_rate_per_s", True, 0.02, drift_factor=DRIFT_FACTOR),
    Metric("latency_p50_ms", False, 0.10, task_quantile=50, drift_factor=DRIFT_FACTOR),
    Metric("latency_p99_ms", False, 0.10, task_quantile=99, drift_factor=TAIL_DRIFT_FACTOR),
    Metric("connect_p50_ms", False, 0.10, drift_factor=DRIFT_FACTOR),
    Metric("sessions_per_task", False, 0.02, min_effect_abs=0.05),
    Metric("connections_peak", False, 0.0, min_effect_abs=1),
    Metric("failed", False, 0.0),
    Metric("cpu_percent", False, 0.10),
    Metric("broker_cpu_ms_per_task", False, 0.10),
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
    """better, worse, same, not significant, drift unknown, no repeats."""
    evidence: str = ""
    """How the verdict was reached: the test and its figure, or the minimum effect."""

    @property
    def diff(self) -> float:
        return self.contender - self.baseline

    @property
    def diff_percent(self) -> float:
        return 100 * self.diff / self.baseline if self.baseline else math.nan


def compare_runs(baseline: RunData, contender: RunData, drift_factor: float | None = None) -> list[Difference]:
    """`drift_factor`: the ratio single runs must pass for a verdict on every drifting metric; None: each
    metric's own."""
    a, b = _groups(baseline), _groups(contender)
    differences = []
    for key in (k for k in a if k in b):
        architecture, step = key
        for metric in HEADLINE:
            xs, ys = _values(a[key], metric.column), _values(b[key], metric.column)
            if not (xs and ys):
                continue
            samples = None
            if metric.task_quantile is not None and len(xs) == 1 and len(ys) == 1:
                samples = (baseline.task_latencies(a[key][0]), contender.task_latencies(b[key][0]))
            outcome, evidence = judge(metric, xs, ys, samples, drift_factor)
            differences.append(
                Difference(
                    architecture,
                    step,
                    metric.column,
                    metric.higher_is_better,
                    statistics.fmean(xs),
                    statistics.fmean(ys),
                    outcome,
                    evidence,
                )
            )
    return differences


def judge(
    metric: Metric,
    xs: list[float],
    ys: list[float],
    samples: tuple[list[float], list[float]] | None = None,
    drift_factor: float | None = None,
) -> tuple[str, str]:
    """(verdict, evidence) for one metric: `xs`, `ys` are its values over each side's repetitions;
    `samples` the per-task latencies of single runs, when the metric is a latency percentile."""
    base, new = statistics.fmean(xs), statistics.fmean(ys)
    if base == new:
        return "same", "no difference"
    if metric.negligible(base, new):
        return "same", _min_effect_words(metric)
    if len(xs) >= 2 and len(ys) >= 2:
        p = welch_p_value(xs, ys)
        return (_direction(metric, base, new) if p < 1 - CONFIDENCE else "not significant"), f"Welch t-test p={p:.3g}"
    factor = drift_factor or metric.drift_factor
    if not factor:
        return "no repeats", "one value a side: no spread to test"
    return _judge_single(metric, base, new, samples, factor)


def _judge_single(
    metric: Metric, base: float, new: float, samples: tuple[list[float], list[float]] | None, drift_factor: float
) -> tuple[str, str]:
    """A latency, throughput or rate of single runs: a verdict only past the drift factor, and for a
    percentile, past its tasks' own spread too."""
    factor = _factor(base, new)
    if factor < drift_factor:
        return "drift unknown", (
            f"single runs: drift between runs unknown ({factor:.2f}x, a verdict needs "
            f"{drift_factor:g}x or runs with --repeat)"
        )
    beyond = f"{factor:.2f}x, beyond the drift factor {drift_factor:g}x for single runs"
    if metric.task_quantile is None:
        return _direction(metric, base, new), beyond
    if samples is None:
        return "no repeats", "one value a side: no spread to test"
    counts = f"{len(samples[0])} and {len(samples[1])} tasks"
    if min(len(samples[0]), len(samples[1])) < metric.min_tasks():
        return "drift unknown", (
            f"{beyond}; but {counts} are too few for a p{metric.task_quantile:g}: it needs "
            f"{metric.min_tasks()} a side, or runs with --repeat"
        )
    low, high = percentile_difference_interval(*samples, metric.task_quantile)
    evidence = (
        f"{beyond}; bootstrap 95% interval of the p{metric.task_quantile:g} difference over {counts}: "
        f"{low:+.3g} to {high:+.3g}"
    )
    return (_direction(metric, base, new) if not low <= 0 <= high else "not significant"), evidence


def _direction(metric: Metric, base: float, new: float) -> str:
    return "better" if (new > base) == metric.higher_is_better else "worse"


def _factor(a: float, b: float) -> float:
    """How many times the larger of two values is the smaller (inf when one is 0 and the other not)."""
    low, high = sorted((abs(a), abs(b)))
    return high / low if low else math.inf


def welch_p_value(xs: list[float], ys: list[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances); values that never vary differ for sure."""
    import scipy.stats  # here, not at the top: it takes half a second to import

    if statistics.variance(xs) == 0 and statistics.variance(ys) == 0:
        return 0.0 if statistics.fmean(xs) != statistics.fmean(ys) else 1.0
    with warnings.catch_warnings():  # nearly equal values warn of precision loss; the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(scipy.stats.ttest_ind(xs, ys, equal_var=False).pvalue)


def percentile_difference_interval(xs: list[float], ys: list[float], q: float) -> tuple[float, float]:
    """Bootstrap 95 % interval of percentile_q(ys) - percentile_q(xs), tasks resampled within each run
    (seeded, so a comparison gives the same answer every time)."""
    import numpy as np
    import scipy.stats

    def difference(x, y, axis):
        return np.percentile(y, q, axis=axis, method=PERCENTILE_METHOD) - np.percentile(
            x, q, axis=axis, method=PERCENTILE_METHOD
        )

    result = scipy.stats.bootstrap(
        (np.asarray(xs), np.asarray(ys)),
        difference,
        vectorized=True,
        paired=False,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=100,
        rng=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _min_effect_words(metric: Metric) -> str:
    parts = [f"{100 * metric.min_effect:g}%"] if metric.min_effect else []
    parts += [f"{metric.min_effect_abs:g}"] if metric.min_effect_abs else []
    return f"difference within the minimum effect ({' or '.join(parts)})"


def step_label(row: dict) -> str:
    """The step's rate, and its distance where it ran through the delay proxy: what steps match by."""
    label = "max" if row.get("saturation") else f"{row['offered_rate_per_s']:g}/s"
    return label if row.get("rtt_ms") is None else f"{label} @ rtt {row['rtt_ms']:g} ms"


def _groups(run: RunData) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in run.steps:
        groups[(row["architecture"], step_label(row))].append(row)
    return groups


def _values(rows: list[dict], column: str) -> list[float]:
    return [r[column] for r in rows if r.get(column) is not None and not math.isnan(r[column])]
