"""Comparing recorded runs: noise is not significant, a deliberate change shows up."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from bench.compare import compare_runs, verdict, welch_significant
from bench.results import load_run
from tests.conftest import run_bench

DATA = Path(__file__).parent / "data"


def _verdicts(a: str, b: str, metric: str) -> dict[str, str]:
    return {d.step: d.verdict for d in compare_runs(load_run(DATA / a), load_run(DATA / b)) if d.metric == metric}


def test_two_runs_of_the_same_profile_differ_only_within_the_noise():
    # gevent-pool on point_select, 3 repetitions per step, twice.
    for metric in ("throughput_per_s", "latency_p99_ms"):
        verdicts = _verdicts("repeat-base", "repeat-same", metric)
        assert verdicts and set(verdicts.values()) <= {"not significant", "same"}, (metric, verdicts)


def test_a_deliberately_smaller_pool_shows_up_as_worse_latency_and_throughput():
    # io_wait (20 ms) on gevent-pool, 2 processes: pool_size 10 against pool_size 1 (100 tasks/s at most),
    # 3 repetitions each. At 40/s both keep up; at 120/s the small pool cannot.
    assert _verdicts("repeat-iowait", "repeat-tinypool", "latency_p99_ms")["120/s"] == "worse"
    assert _verdicts("repeat-iowait", "repeat-tinypool", "throughput_per_s")["120/s"] == "worse"


def test_verdict_rules():
    assert verdict([10.0, 10.1, 9.9], [10.1, 9.95, 10.05], higher_is_better=True) == "not significant"
    assert verdict([10.0, 10.1, 9.9], [20.0, 20.1, 19.9], higher_is_better=True) == "better"
    assert verdict([10.0, 10.1, 9.9], [20.0, 20.1, 19.9], higher_is_better=False) == "worse"
    assert verdict([10.0], [12.0], higher_is_better=True) == "better"  # no repetitions: direction only
    assert verdict([5.0, 5.0], [5.0, 5.0], higher_is_better=True) == "same"
    assert welch_significant([1.0, 1.0], [2.0, 2.0])


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_compare_command_formats_and_overlay_charts(tmp_path, fmt):
    results = tmp_path / "results"
    for name in ("repeat-iowait", "repeat-tinypool"):
        shutil.copytree(DATA / name, results / name)
    done = run_bench("compare", "repeat-iowait", "repeat-tinypool", "--format", fmt, "--results-dir", str(results),
                     "--plots-dir", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        p99 = next(r for r in rows if r["metric"] == "latency_p99_ms" and r["step"] == "120/s")
        assert p99["verdict"] == "worse" and p99["higher_is_better"] == "False"
        assert float(p99["contender"]) > float(p99["baseline"])
    elif fmt == "markdown":
        assert done.stdout.startswith("Baseline `") and "| architecture | step | metric |" in done.stdout
        assert "**worse**" in done.stdout
    else:
        assert "latency_p99_ms" in done.stdout
    charts = tmp_path / "plots" / "compare-repeat-iowait-repeat-tinypool"
    assert {"throughput.png", "throughput.svg", "latency_p99.png", "latency_p99.svg"} <= {p.name for p in charts.iterdir()}
    assert 'id="latency_p99_ms-' in (charts / "latency_p99.svg").read_text()
