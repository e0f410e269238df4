"""RabbitMQ as the broker: bench's own node runs the Celery architectures, and nothing of it (node,
beam.smp, epmd) is left after a normal run or a failed start (and a Ctrl-C: tests/test_run.py); the
machine's own RabbitMQ, when it has one, is never touched."""

from __future__ import annotations

import csv
import json
import re
import socket
import time
from pathlib import Path

import psutil
import pytest

from bench.errors import BenchError
from bench.services.rabbitmq import ManagedRabbitMQ, rabbitmq_binaries
from tests.conftest import run_bench

try:
    rabbitmq_binaries()
except BenchError as missing:  # scripts/setup.sh installs it; say so rather than fail obscurely
    pytest.skip(str(missing), allow_module_level=True)

ARCHITECTURES = "prefork-sync-pool,prefork-sync-pool@rabbitmq"
"""One architecture on Bench's Redis, then on its RabbitMQ node, in one run."""

SATURATION_TASKS = 1000
"""Enough for each broker's CPU to span 15-30 ticks of 10 ms: with 300 (3-4 ticks each) the two
brokers' CPU per task came out equal once."""


def _erlang_processes() -> dict[int, str]:
    """Every live beam.smp and epmd on the machine, by PID (not the zombies of those just ended)."""
    found = {}
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        if proc.info["name"] in ("beam.smp", "epmd") and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found[proc.info["pid"]] = " ".join(proc.info["cmdline"] or [])
    return found


def _erlang_processes_settled(before: set[int], timeout_s: float = 10.0) -> dict[int, str]:
    """The Erlang processes once those started since `before` have had `timeout_s` to finish exiting:
    a process killed with its group can still be listed for a moment; an orphan stays."""
    deadline = time.time() + timeout_s
    while True:
        now = _erlang_processes()
        if not set(now) - before or time.time() >= deadline:
            return now
        time.sleep(0.2)


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
    after = _erlang_processes_settled(set(before))
    assert not set(after) - set(before), f"left behind: {[after[p] for p in set(after) - set(before)]}"
    assert set(before) <= set(after), "an Erlang process that bench did not start has gone"
    assert _answers(5672) == answered


def _pids_in_log(run_dir: Path, name: str) -> list[int]:
    text = (run_dir / "bench.log").read_text()
    return [int(part.split()[0]) for part in text.split(f"started {name} pid=")[1:]]


def test_a_run_on_both_brokers_counts_every_task_and_measures_each_broker(tmp_path, machines_own_rabbitmq, bench_run):
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--architectures",
        ARCHITECTURES,
        "--rates",
        "max",
        "--saturation-tasks",
        str(SATURATION_TASKS),
        "--results-dir",
        str(tmp_path),
        "--plots-dir",
        str(tmp_path / "plots"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "plots"]
    with open(run_dir / "steps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["architecture"], r["broker"]) for r in rows} == {
        ("prefork-sync-pool", "redis"),
        ("prefork-sync-pool@rabbitmq", "rabbitmq"),
    }
    for row in rows:
        assert int(row["lost"]) == 0 and int(row["enqueued"]) == int(row["completed"]) + int(row["failed"]), row
        assert int(row["failed"]) == 0, row
        assert float(row["broker_cpu_percent"]) > 0 and float(row["broker_cpu_ms_per_task"]) > 0, row
        # The tasks arrive at once: the queue-depth probe sees a backlog on either broker (not all
        # of it: the workers take tasks while they arrive, and prefetch some).
        assert 0 < int(float(row["queue_depth_peak"])) <= SATURATION_TASKS, row
    with open(run_dir / "queue_depth.csv", newline="") as f:
        depth_rows = list(csv.DictReader(f))
    for label in ("prefork-sync-pool", "prefork-sync-pool@rabbitmq"):
        of_step = [int(r["ready"]) for r in depth_rows if r["architecture"] == label and r["step"] == "0"]
        assert max(of_step) > 0 and of_step[-1] == 0, (label, of_step)  # a backlog, then drained
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["versions"]["rabbitmq"].startswith("RabbitMQ 3.") and meta["versions"]["redis"]
    # Each arm's broker role is its own broker: the node's Erlang VM does not idle its CPU into Redis's
    # steps. (Their CPU per task is no test of it: the two came out within 25 % of each other, either way.)
    (redis_pid,), (rabbitmq_pid,) = _pids_in_log(run_dir, "redis"), _pids_in_log(run_dir, "rabbitmq")
    log = (run_dir / "bench.log").read_text()
    for label, pid in (("prefork-sync-pool", redis_pid), ("prefork-sync-pool@rabbitmq", rabbitmq_pid)):
        assert f"{label}: broker CPU is that of pid={pid} and its children" in log, (label, pid)
    advice = json.loads((run_dir / "advice.json").read_text())
    assert any(
        line.startswith("Broker CPU per task of prefork-sync-pool at saturation: redis ") and "rabbitmq" in line
        for line in advice["text"]
    ), advice["text"]
    # Its random password is in no file of the run (Celery's own logs mask it as **).
    leaking = [p for p in run_dir.rglob("*") if p.is_file() and re.search(rb"amqp://bench:(?!\*\*)", p.read_bytes())]
    assert not leaking
    for name in ("rabbitmq", "redis", "epmd"):
        (pid,) = _pids_in_log(run_dir, name)
        assert not psutil.pid_exists(pid)


def test_a_node_that_fails_to_start_leaves_nothing(tmp_path, machines_own_rabbitmq):
    node = ManagedRabbitMQ(tmp_path)
    with socket.socket() as taken:  # its AMQP port already in use: the node cannot listen and stops
        taken.bind(("127.0.0.1", node.port))
        taken.listen()
        with pytest.raises(BenchError, match="RabbitMQ"):
            with node:
                pass
