"""Marginal CPU costs: the slope of a role's CPU over the task rate, not CPU over one rate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.analysis.costs import RATIO, SLOPE, cost_rows, marginal_costs
from bench.record.results import load_run
from bench.record.stats import fit_line


def _step(rate: float, workers_percent: float, **extra) -> dict:
    return {
        "architecture": "a",
        "saturation": False,
        "offered_rate_per_s": rate,
        "achieved_rate_per_s": rate,
        "scheduled": None,
        "duration_s": None,
        "cpu_percent": workers_percent,
        "worker_cpu_ms_per_task": 10 * workers_percent / rate,
        **extra,
    }


def test_fixed_burn_goes_to_the_intercept_and_the_slope_is_what_a_task_costs():
    # 5 % of a core idle, 2 ms a task: at 10/s the ratio reads 7 ms, at 50/s 3 ms; the slope 2 at every rate.
    steps = [_step(rate, 5 + 0.2 * rate) for rate in (10, 25, 50)]
    workers = marginal_costs(steps, "a")["workers"]
    assert workers.method == SLOPE and workers.ms_per_task == pytest.approx(2.0)
    assert workers.idle_percent == pytest.approx(5.0) and workers.stderr_ms == pytest.approx(0.0, abs=1e-9)
    assert steps[0]["worker_cpu_ms_per_task"] == pytest.approx(7.0)


def test_the_slope_carries_its_standard_error():
    slope, stderr, intercept = fit_line([10, 20, 30, 40], [30, 48, 75, 88])
    assert slope == pytest.approx(2.0, abs=0.05) and 0.1 < stderr < 0.3 and intercept == pytest.approx(10, abs=1.5)
    assert math.isnan(fit_line([10, 20], [1, 2])[1])  # two points: a line, no error


def test_one_rate_falls_back_to_the_ratio_and_says_so():
    steps = [_step(25, 10.0), _step(25.3, 10.4)]  # repetitions of one rate: no slope to draw
    workers = marginal_costs(steps, "a")["workers"]
    assert workers.method == RATIO and workers.ms_per_task == pytest.approx((4.0 + 10 * 10.4 / 25.3) / 2)
    assert math.isnan(workers.idle_percent) and workers.how() == "ratio at 25/s"


def test_steps_that_broke_or_were_unsteady_are_not_fitted():
    steps = [
        _step(10, 7.0),
        _step(25, 10.0),
        _step(50, 15.0),
        _step(100, 80.0, achieved_rate_per_s=60.0),
        _step(75, 90.0, unsteady=True),
    ]
    workers = marginal_costs(steps, "a")["workers"]
    assert workers.rates == (10, 25, 50) and workers.ms_per_task == pytest.approx(2.0)


def test_a_recorded_run_gives_one_row_per_arm_and_role():
    run = load_run(Path(__file__).parent.parent / "data" / "all-architectures")
    rows = cost_rows(run.steps, run.architectures)
    recipe = {r["role"]: r for r in rows if r["architecture"] == "prefork-nullpool"}
    assert {"workers", "db", "broker", "loadgen", "machine"} <= recipe.keys()
    assert recipe["machine"]["method"] == SLOPE and recipe["machine"]["steps"] == 2  # 30 and 60/s
    assert recipe["db"]["cpu_ms_per_task"] > 0
