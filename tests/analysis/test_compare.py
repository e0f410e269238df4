"""Comparing recorded runs: noise is not significant, a deliberate change shows up."""

from __future__ import annotations

import csv
import json
import io
import random
import shutil
from pathlib import Path

import pytest

from bench.analysis.compare import HEADLINE, compare_runs, judge, welch_p_value
from bench.record.results import load_run
from bench.record.stats import percentile
from tests.conftest import run_bench

DATA = Path(__file__).parent.parent / "data"


def _verdicts(a: str, b: str, metric: str) -> dict[str, str]:
    return {d.step: d.verdict for d in compare_runs(load_run(DATA / a), load_run(DATA / b)) if d.metric == metric}


NO_VERDICT = {"same", "not significant", "no repeats", "drift unknown"}


def _all_verdicts(a: str, b: str) -> dict[tuple[str, str, str], str]:
    return {(d.architecture, d.step, d.metric): d.verdict for d in compare_runs(load_run(DATA / a), load_run(DATA / b))}


def test_two_runs_of_the_same_profile_differ_only_within_the_noise():
    # gevent-pool on point_select, 3 repetitions per step, twice: every metric.
    verdicts = _all_verdicts("repeat-base", "repeat-same")
    assert len(verdicts) == 2 * 8 and set(verdicts.values()) <= {"not significant", "same"}, verdicts


def test_two_single_runs_of_the_same_profile_get_no_verdict():
    # prefork-nullpool and gevent-pool, 40 and 80/s, one run each, twice.
    verdicts = _all_verdicts("single-a", "single-b")
    assert len(verdicts) >= 4 * 8 and set(verdicts.values()) <= NO_VERDICT, verdicts


def test_single_runs_get_a_verdict_only_past_the_drift_factor():
    # io_wait on gevent-pool, one run each: pool_size 10 against 1 (no overflow).
    verdicts = _all_verdicts("single-iowait", "single-tinypool")
    assert verdicts[("gevent-pool", "120/s", "throughput_per_s")] == "drift unknown"  # 119 vs 71/s: 1.68x
    assert verdicts[("gevent-pool", "120/s", "achieved_rate_per_s")] == "drift unknown"  # 120 vs 86/s: 1.40x
    assert verdicts[("gevent-pool", "120/s", "latency_p50_ms")] == "worse"
    assert verdicts[("gevent-pool", "120/s", "latency_p99_ms")] == "worse"
    assert verdicts[("gevent-pool", "40/s", "latency_p99_ms")] in NO_VERDICT


def test_a_deliberately_smaller_pool_shows_up_as_worse_latency_and_throughput():
    # io_wait (20 ms) on gevent-pool, 2 processes: pool_size 10 against pool_size 1 (100 tasks/s at most),
    # 3 repetitions each. At 40/s both keep up; at 120/s the small pool cannot.
    assert _verdicts("repeat-iowait", "repeat-tinypool", "latency_p99_ms")["120/s"] == "worse"
    assert _verdicts("repeat-iowait", "repeat-tinypool", "throughput_per_s")["120/s"] == "worse"


def test_verdict_rules():
    throughput = next(m for m in HEADLINE if m.column == "throughput_per_s")
    p99 = next(m for m in HEADLINE if m.column == "latency_p99_ms")
    assert judge(throughput, [10.0, 10.3, 9.7], [10.5, 10.2, 10.9])[0] == "not significant"
    assert judge(throughput, [10.0, 10.1, 9.9], [20.0, 20.1, 19.9])[0] == "better"
    assert judge(p99, [10.0, 10.1, 9.9], [20.0, 20.1, 19.9])[0] == "worse"
    assert judge(throughput, [10.0], [12.0])[0] == "drift unknown"  # 1.2x: within what runs drift
    assert judge(throughput, [10.0], [16.0])[0] == "drift unknown"  # 1.6x: within the default 2x
    assert judge(throughput, [10.0], [21.0])[0] == "better"  # 2.1x: past it
    assert judge(throughput, [10.0], [16.0], drift_factor=1.5)[0] == "better"  # the user's own factor
    sessions = next(m for m in HEADLINE if m.column == "sessions_per_task")
    assert judge(sessions, [1.0], [2.0]) == ("no repeats", "one value a side: no spread to test")
    assert judge(throughput, [10.0], [10.15])[0] == "same"  # -1.5 %: under the 2 % minimum effect
    assert judge(throughput, [5.0, 5.0], [5.0, 5.0])[0] == "same"
    # Significant, yet under the minimum effect: same.
    assert judge(p99, [10.0, 10.01, 9.99], [10.5, 10.51, 10.49])[0] == "same"
    assert welch_p_value([1.0, 1.0], [2.0, 2.0]) == 0.0


def test_single_run_latency_is_tested_on_its_tasks():
    p99 = next(m for m in HEADLINE if m.column == "latency_p99_ms")
    rng = random.Random(3)
    fast = [rng.expovariate(1 / 5) for _ in range(400)]
    slow = [rng.expovariate(1 / 25) for _ in range(400)]
    same = [rng.expovariate(1 / 5) for _ in range(400)]
    xs, ys = [percentile(fast, 99)], [percentile(slow, 99)]
    assert percentile(slow, 99) / percentile(fast, 99) > 3  # past the drift factor of a p99
    verdict, evidence = judge(p99, xs, ys, (fast, slow))
    assert verdict == "worse" and "bootstrap 95% interval of the p99 difference over 400 and 400 tasks" in evidence
    assert judge(p99, xs, [percentile(same, 99)], (fast, same))[0] in NO_VERDICT
    # A p99 needs a task beyond it: 100 a side.
    verdict, evidence = judge(p99, xs, ys, (fast[:80], slow[:80]))
    assert verdict == "drift unknown" and "80 and 80 tasks are too few for a p99: it needs 100 a side" in evidence
    # Past the drift factor but not past the tasks' own spread: no verdict either.
    wide = [rng.expovariate(1 / 5) for _ in range(30)]
    wider = [x * 1.6 for x in rng.sample(wide, len(wide))]
    assert judge(p99, [percentile(wide, 99)], [percentile(wider, 99)], (wide, wider))[0] in NO_VERDICT


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_compare_command_formats_and_overlay_charts(tmp_path, fmt, bench_cli):
    results = tmp_path / "results"
    for name in ("repeat-iowait", "repeat-tinypool"):
        shutil.copytree(DATA / name, results / name)
    done = run_bench(
        "compare",
        "repeat-iowait",
        "repeat-tinypool",
        "--format",
        fmt,
        "--results-dir",
        str(results),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
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
    assert {"throughput.png", "throughput.svg", "latency_p99.png", "latency_p99.svg"} <= {
        p.name for p in charts.iterdir()
    }
    assert 'id="latency_p99_ms-' in (charts / "latency_p99.svg").read_text()


def test_an_exact_run_id_wins_over_a_prefix_and_the_table_fits_100_columns(tmp_path, bench_cli):
    # Two runs started in the same second: X and X-2. "X" names the first, not both.
    results = tmp_path / "results"
    for name in ("20261204-130901-smoke", "20261204-130901-smoke-2"):
        shutil.copytree(DATA / "quick-ceilings", results / name)
        meta = json.loads((results / name / "run.json").read_text())
        (results / name / "run.json").write_text(json.dumps({**meta, "run_id": name}))
    done = run_bench(
        "compare",
        "20261204-130901-smoke",
        "20261204-130901-smoke-2",
        "--results-dir",
        str(results),
        "--plots-dir",
        str(tmp_path / "plots"),
        env={"COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("overlay charts:")[0].splitlines()
    assert "baseline 20261204-130901-smoke vs contender 20261204-130901-smoke-2" in table[0]
    assert max(len(line.rstrip()) for line in table) <= 100, max(table, key=len)
    assert "evidence" not in done.stdout and "prefork-loop-pool" in done.stdout
    wide = run_bench(
        "compare",
        "20261204-130901-smoke",
        "20261204-130901-smoke-2",
        "--wide",
        "--results-dir",
        str(results),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    assert "evidence" in wide.stdout
    # A prefix that names both is still refused, in one line.
    both = run_bench(
        "compare",
        "20261204-130901",
        "20261204-130901-smoke-2",
        "--results-dir",
        str(results),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    assert both.returncode == 2 and "names 2 runs" in both.stderr
