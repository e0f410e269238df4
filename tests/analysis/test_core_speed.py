"""How fast the cores ran in the drains against the rate steps, and what the model does with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.advice import advise, limits_for
from bench.analysis.core_speed import drains_unit, speed_change, units
from bench.analysis.model import components, predict
from bench.analysis.rules import RECIPE
from bench.record.results import load_run

TOPOLOGY = Path(__file__).parent.parent / "data" / "topology"


def test_units_are_read_by_cpu_set_and_a_run_without_the_probe_has_none():
    assert units({"core_unit_ms": "0=0.52;1=0.61"}) == {"0": 0.52, "1": 0.61}
    assert units({"core_unit_ms": ""}) == {} and units({}) == {}
    drains = [{"core_unit_ms": "1=0.6"}, {"core_unit_ms": "1=0.8"}, {"core_unit_ms": "1=0.7"}]
    assert drains_unit(drains) == {"1": pytest.approx(0.7)}
    steps = [{"core_unit_ms": "0=0.5;1=0.4"}, {"core_unit_ms": "0=0.5;1=0.5"}, {"core_unit_ms": "0=0.5;1=0.4"}]
    assert speed_change(steps, {"0": 0.5, "1": 0.6}) == {"0": 1.0, "1": 1.5}


def test_the_advice_names_a_speed_change_beside_the_prediction_and_the_model_does_not_correct_for_it():
    run = load_run(TOPOLOGY)
    before = predict(components(run))
    for row in run.steps:
        if row["architecture"] == RECIPE:
            row["core_unit_ms"] = "0=0.5;1=0.625" if row.get("saturation") else "0=0.51;1=0.5"
    c = components(run)
    assert c.core_speed_change == {"0": pytest.approx(0.5 / 0.51, abs=1e-4), "1": 1.25}
    assert predict(c).throughput_per_s == pytest.approx(before.throughput_per_s)
    (line,) = [line for line in advise(run, limits_for(run))["text"] if line.startswith("Capacity model")]
    # 25 % is named; the 2 % of CPU 0 is under the 5 % worth a word.
    assert "CPU 1 25 % slower in the drains than in the rate steps" in line and "CPU 0" not in line
    assert "does not correct for" in line
