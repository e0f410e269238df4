"""A step's CPU converted to the drains' core speed, and what that does to the capacity model."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.core_speed import at_drain_speed, drains_unit, speed_change, units
from bench.analysis.model import components, predict
from bench.analysis.rules import RECIPE
from bench.record.results import load_run

TOPOLOGY = Path(__file__).parent.parent / "data" / "topology"


def test_units_are_read_by_cpu_set_and_a_run_without_the_probe_has_none():
    assert units({"core_unit_ms": "0=0.52;1=0.61"}) == {"0": 0.52, "1": 0.61}
    assert units({"core_unit_ms": ""}) == {} and units({}) == {}
    drains = [{"core_unit_ms": "1=0.6"}, {"core_unit_ms": "1=0.8"}, {"core_unit_ms": "1=0.7"}]
    assert drains_unit(drains) == {"1": pytest.approx(0.7)}


def test_each_roles_cpu_is_scaled_by_the_speed_of_its_own_cores():
    pinned = {"db": "0", "workers": "1"}
    step = {
        "core_unit_ms": "0=0.5;1=0.4",
        "cpu_percent": 40.0,
        "worker_cpu_ms_per_task": 5.0,
        "db_cpu_percent": 30.0,
        "broker_cpu_percent": 2.0,
    }
    (scaled,) = at_drain_speed([step], {"0": 0.5, "1": 0.6}, pinned)
    # The workers' core ran 1.5 times slower in the drains: their step CPU is worth 1.5 times as much.
    assert scaled["cpu_percent"] == pytest.approx(60.0) and scaled["worker_cpu_ms_per_task"] == pytest.approx(7.5)
    assert scaled["db_cpu_percent"] == pytest.approx(30.0)  # the database's core ran at one speed
    assert scaled["broker_cpu_percent"] == 2.0  # the broker is not pinned: no cores to speak of
    assert step["cpu_percent"] == 40.0  # the row read is not changed
    # Without pinned roles every role (and the machine) ran on any core.
    (shared,) = at_drain_speed([{"core_unit_ms": "all=1.0", "machine_cpu_percent": 100.0}], {"all": 1.2}, {})
    assert shared["machine_cpu_percent"] == pytest.approx(120.0)
    assert at_drain_speed([step], {}, pinned) == [step]  # a run recorded before the probe
    assert speed_change([step], {"1": 0.6}) == {"1": 1.5}


def test_a_drain_on_slower_cores_is_predicted_slower_by_about_as_much():
    run = load_run(TOPOLOGY)
    before = predict(components(run))
    for row in run.steps:
        if row["architecture"] == RECIPE:
            row["core_unit_ms"] = "0=0.5;1=0.625" if row.get("saturation") else "0=0.5;1=0.5"
    c = components(run)
    after = predict(c)
    assert c.core_speed_change == {"0": 1.0, "1": 1.25}
    # The workers' core bounds: what its roles burn idle and per task, both 1.25 times as much.
    old = components(load_run(TOPOLOGY))
    on_core_1 = ("workers", "broker")
    idle = sum(old.role_idle_ms_per_s[r] for r in on_core_1)
    per_task = sum(old.role_cpu_ms[r] for r in on_core_1)
    assert after.cpu_bound_per_s == pytest.approx((1000 - 1.25 * idle) / (1.25 * per_task), rel=1e-6)
    # Mean value analysis: slower by most of that (the tasks wait less elsewhere, 90 % busy at it).
    assert before.throughput_per_s / 1.25 < after.throughput_per_s < before.throughput_per_s / 1.15
