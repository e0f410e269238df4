"""RabbitMQ as the broker: bench's own node runs the Celery architectures, and nothing of it (node,
beam.smp, epmd) is left after a normal run, a Ctrl-C or a failed start; the machine's own RabbitMQ,
when it has one, is never touched."""

from __future__ import annotations

import csv
import json
import re
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest

from bench.errors import BenchError
from bench.services.rabbitmq import ManagedRabbitMQ, rabbitmq_binaries
from tests.conftest import bench_run_in_background, run_bench

try:
    rabbitmq_binaries()
except BenchError as missing:  # scripts/setup.sh installs it; say so rather than fail obscurely
    pytest.skip(str(missing), allow_module_level=True)

ARCHITECTURES = "prefork-nullpool,prefork-sync-pool"


def _erlang_processes() -> dict[int, str]:
    """Every beam.smp and epmd on the machine, by PID."""
    found = {}
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if proc.info["name"] in ("beam.smp", "epmd"):
            found[proc.info["pid"]] = " ".join(proc.info["cmdline"] or [])
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def machines_own_rabbitmq():
    """The Erlang processes and AMQP port 5672 as they were before the test; checked unchanged after it."""
    before, answered = _erlang_processes(), _answers(5672)
    yield
    after = _erlang_processes()
    assert not set(after) - set(before), f"left behind: {[after[p] for p in set(after) - set(before)]}"
    assert set(before) <= set(after), "an Erlang process that bench did not start has gone"
    assert _answers(5672) == answered


def _pids_in_log(run_dir: Path, name: str) -> list[int]:
    text = (run_dir / "bench.log").read_text()
    return [int(part.split()[0]) for part in text.split(f"started {name} pid=")[1:]]


def test_a_run_on_rabbitmq_counts_every_task_and_measures_the_broker(tmp_path, machines_own_rabbitmq):
    done = run_bench("run", "--profile", "smoke", "--broker", "rabbitmq", "--architectures", ARCHITECTURES,
                     "--rates", "max", "--saturation-tasks", "300", "--results-dir", str(tmp_path),
                     "--plots-dir", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "plots"]
    with open(run_dir / "steps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["architecture"] for r in rows} == set(ARCHITECTURES.split(","))
    for row in rows:
        assert int(row["lost"]) == 0 and int(row["enqueued"]) == int(row["completed"]) + int(row["failed"]), row
        assert int(row["failed"]) == 0, row
        assert float(row["broker_cpu_percent"]) > 0 and float(row["broker_cpu_ms_per_task"]) > 0, row
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["versions"]["rabbitmq"].startswith("RabbitMQ 3.")
    # Its random password is in no file of the run (Celery's own logs mask it as **).
    leaking = [p for p in run_dir.rglob("*") if p.is_file() and re.search(rb"amqp://bench:(?!\*\*)", p.read_bytes())]
    assert not leaking
    for name in ("rabbitmq", "epmd"):
        (pid,) = _pids_in_log(run_dir, name)
        assert not psutil.pid_exists(pid)


def test_ctrl_c_stops_the_node_and_its_epmd(tmp_path, machines_own_rabbitmq):
    with bench_run_in_background(tmp_path, "--profile", "smoke", "--broker", "rabbitmq",
                                 "--architectures", "prefork-nullpool") as proc:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            logs = list(tmp_path.glob("*/bench.log"))
            if logs and "step 0.0 starts" in logs[0].read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "plots"]
    assert _pids_in_log(run_dir, "rabbitmq") and _pids_in_log(run_dir, "epmd")


def test_a_node_that_fails_to_start_leaves_nothing(tmp_path, machines_own_rabbitmq):
    node = ManagedRabbitMQ(tmp_path, log=lambda _m: None)
    with socket.socket() as taken:  # its AMQP port already in use: the node cannot listen and stops
        taken.bind(("127.0.0.1", node.port))
        taken.listen()
        with pytest.raises(BenchError, match="RabbitMQ"):
            with node:
                pass
