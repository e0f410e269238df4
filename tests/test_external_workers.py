"""Workers run by `bench worker` agents (workers = "external"), on this host: the same counts as local
workers, records and clock offsets over the control channel, an agent that vanishes mid-step is named
and its tasks are lost (not waited for forever), and every agent ends with the run."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.processes import wait_for
from bench.services.redis import ManagedRedis
from tests.conftest import REPO, run_bench
from tests.test_run import _bench_children_started_after, _only_run, _steps


@pytest.fixture
def control(tmp_path):
    with ManagedRedis(tmp_path, name="control") as server:
        yield server.url


def _agent(control_url: str, log_dir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "worker", "--control", control_url, "--log-dir", str(log_dir), *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(log_dir.parent / f"{log_dir.name}.err", "w"),
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def _agent_id(log_dir: Path) -> str:
    deadline = time.time() + 30
    while time.time() < deadline:
        path = log_dir / "agent.log"
        if path.exists() and "agent " in path.read_text():
            return path.read_text().split("agent ", 1)[1].split()[0]
        time.sleep(0.1)
    raise AssertionError("the agent did not start")


def test_a_bench_worker_runs_the_steps_and_ends_with_the_run(tmp_path, control, bench_run):
    t0 = time.time()
    agent = _agent(control, tmp_path / "agent")
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--rates",
        "20,40",
        "--workers",
        "external",
        "--results-dir",
        str(tmp_path / "results"),
        "--plots-dir",
        str(tmp_path / "plots"),
        env={"BENCH_CONTROL_URL": control},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert agent.wait(timeout=20) == 0  # told to stop at the end of the run
    for row in _steps(_only_run(tmp_path / "results")):
        assert int(row["scheduled"]) == int(row["enqueued"]) == int(row["completed"]) and int(row["lost"]) == 0, row
        assert float(row["sessions_per_task"]) == pytest.approx(1.0, abs=0.05), row
        assert abs(float(row["clock_offset_ms"])) <= float(row["clock_uncertainty_ms"]) + 0.05, row  # one host
        assert row["cpu_percent"] == ""  # another host's workers are not this host's to meter
    assert not _bench_children_started_after(t0)


def _holds_a_connection_to(root: psutil.Process, port: int) -> bool:
    for proc in [root, *root.children(recursive=True)]:
        try:
            if any(
                c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
                for c in proc.net_connections(kind="tcp")
            ):
                return True
        except psutil.NoSuchProcess:
            pass
    return False


def test_an_agent_that_vanishes_mid_step_is_named_and_its_tasks_are_lost(tmp_path, control, bench_run):
    t0 = time.time()
    # Their folders in tmp_path: the one killed cannot remove its own (its host is gone with it).
    (hosts_tmp := tmp_path / "hosts-tmp").mkdir()
    agents = [_agent(control, tmp_path / f"agent{i}", env={"TMPDIR": str(hosts_tmp)}) for i in range(2)]
    doomed = _agent_id(tmp_path / "agent0")
    # Tasks that hold their worker 600 ms, so each agent's workers have some in hand when its host goes
    # (with 200 ms tasks, the one found in hand finished before the kill landed in one CI run of two),
    # at a rate the surviving agent's two processes alone keep up with (3.3/s), so no backlog outlasts
    # the schedule.
    config = tmp_path / "bench.toml"
    config.write_text(
        '[profiles.vanish]\narchitectures = ["prefork-nullpool"]\nworkload = "io_wait"\n'
        "workload_params = { sleep_ms = 600 }\nrates = [2.5]\nstep_seconds = 6\nwarmup_seconds = 1\n"
        "drain_timeout_seconds = 10\ntable_rows = 1000\ncalibrate_tls = false\n"
        'workers = "external"\nexternal_workers = 2\n'
    )
    args = (
        "run",
        "--config",
        str(config),
        "--profile",
        "vanish",
        "--results-dir",
        str(tmp_path / "results"),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "BENCH_CONTROL_URL": control},
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        log = None
        while time.time() < deadline:
            logs = list((tmp_path / "results").glob("*/bench.log"))
            if logs and "step 0.0 starts" in logs[0].read_text():
                log = logs[0]
                break
            time.sleep(0.2)
        assert log is not None, "the step never started"
        time.sleep(1.0)  # the step is measured from "starts" (its warm-up ran before): 5 s of it to go
        # The host goes, with a task in hand (found by its connection to PostgreSQL: the recipe holds
        # one only while a task runs; at a low rate an agent had none at a random instant once in a while):
        # the agent and every worker process it started, at once.
        postgres_port = int(re.search(r"started postgres pid=\d+ port=(\d+)", log.read_text()).group(1))
        host = psutil.Process(agents[0].pid)
        assert wait_for(lambda: _holds_a_connection_to(host, postgres_port), timeout_s=5, interval_s=0.005)
        for proc in [*host.children(recursive=True), host]:
            proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=60)
    assert run.returncode == 0, stderr[-3000:]
    (row,) = _steps(_only_run(tmp_path / "results"))
    assert row["agents_vanished"] == doomed
    assert "bench worker(s) vanished during" in stderr and doomed in stderr
    assert int(row["lost"]) >= 1 and int(row["completed"]) + int(row["failed"]) + int(row["lost"]) == int(
        row["enqueued"]
    )
    # The step waited for the lost tasks no longer than its drain timeout (10 s) after the schedule,
    # which had at most 6 s to go at the kill (bench.log's clock is this host's wall clock).
    (finished,) = [line for line in log.read_text().splitlines() if " finished prefork-nullpool step 0" in line]
    step_ended_after_s = dt.datetime.fromisoformat(finished.split()[0]).timestamp() - killed_at
    assert step_ended_after_s < 6 + 10 + 3, step_ended_after_s
    assert agents[1].wait(timeout=20) == 0
    assert not _bench_children_started_after(t0)
