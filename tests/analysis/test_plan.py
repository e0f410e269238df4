"""`bench plan`: what a rate needs of each role, checked against the recorded topology run's own figures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.analysis.plan import Budget, crossover_sentence, plan, plan_one
from bench.record.results import load_run
from tests.conftest import run_bench

TOPOLOGY = Path(__file__).parent.parent / "data" / "topology"


@pytest.fixture(scope="module")
def run():
    return load_run(TOPOLOGY)


def _row(run, architecture: str) -> dict:
    # The only rate step (25/s) kept up: the costs come from it.
    return next(r for r in run.steps if r["architecture"] == architecture and not r["saturation"])


def test_the_recipe_bound_by_database_cores(run):
    row = _row(run, "prefork-nullpool")
    need = plan_one(run, "prefork-nullpool", 1000, Budget(db_cores=4, worker_cores=16))
    assert need.db_cores == pytest.approx(row["db_cpu_ms_per_task"])  # 1000/s x ms per task / 1000
    assert need.worker_cores == pytest.approx(row["worker_cpu_ms_per_task"])
    assert need.connections_opened_per_s == pytest.approx(1000 * row["sessions_per_task"])
    assert need.short_of == ["db cores"] and need.limited_by == "db cores"
    assert need.max_rate_per_s == pytest.approx(4 / (row["db_cpu_ms_per_task"] / 1000))
    assert need.worker_processes == max(math.ceil(row["exec_p50_ms"]), math.ceil(row["worker_cpu_ms_per_task"]))
    assert crossover_sentence([need]) == (
        f"prefork-nullpool first needs more than the budget at {need.max_rate_per_s:.0f} tasks/s, in db cores."
    )


def test_the_recipe_bound_by_connections_and_a_database_further_away(run):
    row = _row(run, "prefork-nullpool")
    near = plan_one(run, "prefork-nullpool", 1000, Budget(connections=5))
    # NullPool: a connection lives about a task's execution, so 1000/s holds 1000 x E / 1000 of them.
    assert near.connections_held == pytest.approx(row["exec_p50_ms"])
    assert near.short_of == ["connections"] and near.max_rate_per_s == pytest.approx(5000 / row["exec_p50_ms"])
    far = plan_one(run, "prefork-nullpool", 1000, Budget(connections=5), rtt_ms=2)
    # SCRAM: 4 round trips to connect, 4 for the statements, 1 to close.
    assert far.connections_held == pytest.approx(row["exec_p50_ms"] + 2 * 9)


def test_a_pool_holds_its_size_and_opens_nothing_in_steady_state(run):
    need = plan_one(run, "gevent-pool", 1000, Budget(connections=95))
    assert need.connections_opened_per_s == 0  # the saturation steps opened none
    assert need.connections_held == need.worker_processes * 10  # min(pool_size 10, 10 greenlets) a process
    assert need.worker_processes >= math.ceil(need.worker_cores)
    assert "prefork-asyncio-run" not in {n.architecture for n in plan(run, 100, Budget())}  # the trap


def test_plan_command(tmp_path, bench_cli):
    done = run_bench("plan", str(TOPOLOGY), "--rate", "1000", "--db-cores", "4", "--plots-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "prefork-nullpool first needs more than the budget at" in done.stdout and "db cores" in done.stdout
    bad = run_bench("plan", str(TOPOLOGY), "--rate", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("bench: error:")


def test_the_advice_and_the_report_carry_the_plan(run, tmp_path):
    from bench.analysis.advice import advise, limits_for
    from bench.output.report import write_report

    advice = advise(run, limits_for(run))
    assert advice["plan"]["rate_per_s"] == 1000
    recipe = next(n for n in advice["plan"]["needs"] if n["architecture"] == "prefork-nullpool")
    assert recipe["db_cores"] == pytest.approx(_row(run, "prefork-nullpool")["db_cpu_ms_per_task"])
    page = write_report(run, tmp_path).read_text()
    assert "What 1000 tasks/s would need" in page and "connections held" in page


def test_disturbed_steps_give_no_costs_to_plan_with(run):
    import dataclasses

    steps = [{**r, "disturbed": r["architecture"] == "prefork-nullpool"} for r in run.steps]
    shared = dataclasses.replace(run, steps=steps)
    assert plan_one(shared, "prefork-nullpool", 1000, Budget()) is None
    assert plan_one(shared, "gevent-pool", 1000, Budget()) == plan_one(run, "gevent-pool", 1000, Budget())
