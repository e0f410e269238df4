"""`bench run` when things go wrong under it: a server it started dies, the workers stall."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import signal
import statistics
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import OUTAGE_SLACK_S, bench_run_in_background
from tests.test_run import _bench_children_started_after, _only_run, _started_pids, _steps


def _wait_for_log(results: Path, pattern: str, timeout_s: float = 120) -> re.Match:
    """The first bench.log line matching `pattern`, waiting for it to be written."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for log in results.glob("*/bench.log"):
            found = re.search(pattern, log.read_text())
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError(f"bench.log never said {pattern!r}")


@pytest.mark.parametrize("server", ["postgres", "redis", "service"])
def test_a_managed_server_killed_mid_step_ends_the_run_with_exit_3(tmp_path, server, bench_run):
    t0 = time.time()
    # With the delay proxy (rtt 0), so it is among what an error must stop; "service" is send_email's
    # outside service.
    workload = ["--workload", "send_email"] if server == "service" else []
    with bench_run_in_background(tmp_path, "--profile", "smoke", "--rtt-ms", "0", *workload) as proc:
        server_pid = int(_wait_for_log(tmp_path, rf"started {server} pid=(\d+)").group(1))
        _wait_for_log(tmp_path, r"prefork-nullpool step 1\.0 starts")
        time.sleep(1.5)  # past the warm-up, into the measured part of the second step
        os.kill(server_pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr[-2000:]
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("bench: error:")]
    assert error_lines == [
        f"bench: error: {server} exited (signal 9) during the run; kept 2 step(s) in {_only_run(tmp_path)}"
    ], stderr[-2000:]
    run_dir = _only_run(tmp_path)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed" and meta["failure"] == f"{server} exited (signal 9)"
    finished, interrupted = _steps(run_dir)
    assert finished["interrupted_by"] == "" and int(finished["completed"]) == int(finished["scheduled"]) > 0
    assert interrupted["interrupted_by"] == f"{server} exited (signal 9)"
    # What was sent before the death is counted: completed, failed by type, or lost.
    assert int(interrupted["enqueued"]) > 0
    assert int(interrupted["completed"]) + int(interrupted["failed"]) + int(interrupted["lost"]) == int(
        interrupted["enqueued"]
    )
    assert (tmp_path / "plots" / run_dir.name / "report.html").exists()
    assert not [p for p in _started_pids(run_dir) if psutil.pid_exists(p)]
    assert not _bench_children_started_after(t0)


STALL_S = 1.0


def _signal_tree(pid: int, signum: int) -> None:
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        process.send_signal(signum)


def test_stalled_workers_do_not_slow_the_load_and_their_latency_shows_it(tmp_path, bench_run):
    # Coordinated omission, ruled out: the workers are frozen (SIGSTOP) for 1 s mid-step at 40/s. An
    # open-loop generator keeps sending on schedule; the tasks due during the stall wait for it, and
    # their latency, counted from the scheduled time, says so.
    args = ("--profile", "smoke", "--rates", "40", "--step-seconds", "6", "--warmup-seconds", "1")
    with bench_run_in_background(tmp_path, *args) as proc:
        worker_pid = int(_wait_for_log(tmp_path, r"started prefork-nullpool workers pids=\[(\d+)\]").group(1))
        _wait_for_log(tmp_path, r"prefork-nullpool step 0\.0 starts")
        time.sleep(0.3 + 1.0 + 1.5)  # the start delay, the warm-up, then 1.5 s into the measured part
        _signal_tree(worker_pid, signal.SIGSTOP)
        try:
            time.sleep(STALL_S)
        finally:
            _signal_tree(worker_pid, signal.SIGCONT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    (row,) = _steps(_only_run(tmp_path))
    assert int(row["scheduled"]) == int(row["enqueued"]) == int(row["completed"]) == 240 and int(row["lost"]) == 0
    # The generator was not held back: its sends started within a tenth of the stall of their schedule.
    assert float(row["send_late_max_ms"]) < 0.1 * STALL_S * 1000, row
    # The first tasks due in the stall waited nearly all of it.
    assert float(row["latency_p99_ms"]) >= 0.9 * STALL_S * 1000, row
    assert float(row["latency_max_ms"]) < 2 * STALL_S * 1000, row
    # The tasks due before the stall were not affected: the first second of the measured part (the
    # stall began 1.5 s in, give or take this test's polling). Not the whole step's p50: how long the
    # backlog takes to drain depends on how fast this shared VM runs the recipe that day.
    with gzip.open(_only_run(tmp_path) / "tasks.csv.gz", "rt", newline="") as f:
        measured = sorted(
            (float(t["scheduled_s"]), float(t["latency_ms"])) for t in csv.DictReader(f) if t["warmup"] == "False"
        )
    before_stall = [latency for scheduled, latency in measured if scheduled < measured[0][0] + 0.99]
    assert len(before_stall) == 40 and statistics.median(before_stall) < 100, before_stall


@pytest.mark.measurement
def test_a_users_database_restarting_mid_run_is_an_outage_not_the_end(tmp_path, bench_run):
    # A server started through the services code, handed to bench by URL as a user's would be.
    from bench.services.postgres import ManagedPostgres

    with ManagedPostgres(tmp_path) as users_postgres:
        results = tmp_path / "results"
        with bench_run_in_background(
            results, "--profile", "smoke", env={"BENCH_DATABASE_URL": users_postgres.url}
        ) as proc:
            _wait_for_log(results, r"prefork-nullpool step 1\.0 starts")
            time.sleep(1.5)
            users_postgres.restart(down_s=1.0)
            _, stderr = proc.communicate(timeout=180)
        assert users_postgres.process.alive()  # bench never stops a server it did not start
    assert proc.returncode == 0, stderr[-3000:]
    run_dir = _only_run(results)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    (outage,) = meta["outages"]
    assert outage["server"] == "database" and outage["end_s"] is not None
    assert 1.0 <= outage["end_s"] - outage["start_s"] < 1.0 + OUTAGE_SLACK_S  # down 1 s
    before, during, after = _steps(run_dir)
    assert float(during["outage_s"]) > 0 and float(before["outage_s"]) == float(after["outage_s"]) == 0
    # The tasks that met the outage failed, counted by type; none vanished, and the run recovered.
    assert int(during["failed"]) > 0 and during["errors"] and "Lost" not in during["errors"]
    assert int(during["completed"]) + int(during["failed"]) == int(during["enqueued"])
    assert int(after["failed"]) == 0 and int(after["completed"]) == int(after["scheduled"])
    assert during["sessions_opened"] == ""  # counters across a restart are not trusted
    with open(run_dir / "samples.csv") as f:
        sampled_at = [float(line.split(",")[0]) for line in list(f)[1:]]
    assert max(sampled_at) > outage["end_s"] + 1  # the sampler reconnected
    svg = (results / "plots" / run_dir.name / "connections.svg").read_text()
    assert 'id="outage-0"' in svg
