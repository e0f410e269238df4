"""`probe = true`: a run that fits itself to the task, end to end."""

import json

from bench.analysis.advice import held, limits_for
from bench.results import load_run
from tests.test_run import _only_run, _steps


def test_a_probe_of_a_waiting_task_chooses_the_arm_that_runs_many_tasks_per_process(tmp_path, bench_run):
    done = bench_run("run", "--profile", "smoke", "--probe", "on", "--workload", "io_wait",
                     "--architectures", "prefork-nullpool,prefork-sync-pool,gevent-pool",
                     "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = _only_run(tmp_path / "r")
    probe = json.loads((run_dir / "run.json").read_text())["probe"]
    # io_wait holds its connection for a 20 ms sleep on the server: past its connect, a task mostly waits.
    assert probe["shape"]["waits"] and probe["shape"]["wait_share"] >= 0.5, probe
    assert list(probe["chosen"]) == ["gevent-pool"] and probe["left_out"] == ["prefork-sync-pool"], probe
    rows = _steps(run_dir)
    recipe = [r for r in rows if r["architecture"] == "prefork-nullpool"]
    assert float(recipe[0]["offered_rate_per_s"]) == probe["rate_per_s"] == 4.0  # the probe is the recipe's step 0
    assert [float(r["offered_rate_per_s"]) for r in recipe[1:]] == probe["recipe_rates"][:len(recipe) - 1]
    # The probe and the recipe's rates are one session of its workers.
    assert (run_dir / "bench.log").read_text().count("started prefork-nullpool workers") == 1
    # The way out runs its rates falling, and no lower one once it held one.
    run = load_run(run_dir)
    gevent_rows = [r for r in run.steps if r["architecture"] == "gevent-pool"]
    gevent = [r["offered_rate_per_s"] for r in gevent_rows]
    assert gevent == sorted(probe["way_out_rates"], reverse=True)[:len(gevent)]
    assert gevent[0] > 2 * probe["shape"]["drain_per_s"]
    assert len(gevent) == (1 if held(gevent_rows[0], limits_for(run)) else 2), gevent_rows
    advice = json.loads((run_dir / "advice.json").read_text())
    assert advice["recommended"] == "gevent-pool"
    assert any(line.startswith("Fitted to the task:") and "left out prefork-sync-pool" in line for line in advice["text"])
