"""`probe = true`: a run that fits itself to the task, end to end."""

import json
import statistics

from bench.analysis.advice import limits_for
from bench.record.limits import held
from bench.run.arm_choice import rounded_rate
from bench.record.results import load_run
from tests.test_run import _only_run, _steps


def test_a_probe_of_a_waiting_task_chooses_the_arm_that_runs_many_tasks_per_process(tmp_path, bench_run):
    done = bench_run(
        "run",
        "--profile",
        "smoke",
        "--probe",
        "on",
        "--workload",
        "io_wait",
        "--architectures",
        "prefork-nullpool,prefork-sync-pool,gevent-pool",
        "--results-dir",
        str(tmp_path / "r"),
        "--plots-dir",
        str(tmp_path / "p"),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = _only_run(tmp_path / "r")
    probe = json.loads((run_dir / "run.json").read_text())["probe"]
    # io_wait holds its connection for a 20 ms sleep on the server: past its connect, a task mostly waits.
    assert probe["shape"]["waits"] and probe["shape"]["wait_share"] >= 0.5, probe
    assert list(probe["chosen"]) == ["gevent-pool"] and probe["left_out"] == ["prefork-sync-pool"], probe
    rows = _steps(run_dir)
    recipe = [r for r in rows if r["architecture"] == "prefork-nullpool"]
    assert float(recipe[0]["offered_rate_per_s"]) == probe["rate_per_s"] == 4.0  # the probe is the recipe's step 0
    rated = [r for r in recipe[1:] if r["saturation"] not in ("True", "1", "true")]
    assert [float(r["offered_rate_per_s"]) for r in rated] == probe["recipe_rates"][: len(rated)]
    # Its ceiling last, in the same session of its workers as the probe and its rates.
    assert recipe[-1]["saturation"] in ("True", "1", "true")
    assert (run_dir / "bench.log").read_text().count("started prefork-nullpool workers") == 1
    # The way out: its ceiling first, then its rates falling, only those within 80 % of its ceiling (else
    # 80 % of it), and no lower one once it held one.
    run = load_run(run_dir)
    gevent_rows = [r for r in run.steps if r["architecture"] == "gevent-pool"]
    assert gevent_rows[0]["saturation"] and not any(r["saturation"] for r in gevent_rows[1:])
    # The drain the run planned its rates from, also where a neighbour disturbed it (then the advice leaves
    # it out, and run.saturation has none: once in CI, a 0.45 s drain beside 81 % of a core of foreign load).
    ceiling = statistics.median(r["throughput_per_s"] for r in gevent_rows if r["saturation"])
    gevent = [r["offered_rate_per_s"] for r in gevent_rows[1:]]
    planned = [r for r in sorted(probe["way_out_rates"], reverse=True) if r <= 0.8 * ceiling]
    assert gevent == (planned or [rounded_rate(0.8 * ceiling)])[: len(gevent)], (gevent, ceiling)
    assert len(gevent) == (1 if held(gevent_rows[1], limits_for(run)) or len(planned) < 2 else 2), gevent_rows
    advice = json.loads((run_dir / "advice.json").read_text())
    assert advice["recommended"] == "gevent-pool"
    assert any(
        line.startswith("Fitted to the task:") and "left out prefork-sync-pool" in line for line in advice["text"]
    )
