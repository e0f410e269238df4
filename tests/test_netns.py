"""Workers on another host, for real network stacks on one machine: a Linux network namespace the
test makes (a veth pair, addresses from 198.18.0.0/15, the range reserved for benchmarks) stands in
for a worker host, and another for a load generator host. The servers and the load generators'
master listen on the root namespace's end of the worker host's pair (`listen`); a `bench worker`
inside the first namespace (with a host name of its own) runs workers beside a `bench worker` on
this host, a `bench loadgen` inside the second namespace sends half the arrivals; `bench run`
drives them from the root. Everything the test made (namespaces, links, processes) is removed at
the end."""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import psutil
import pytest

from bench.services.redis import ManagedRedis
from bench.urls import free_loopback_port
from tests.conftest import CLOCK_ACCURACY_MS, REPO, run_bench
from tests.test_run import _bench_children_started_after, _loadgen_processes, _only_run, _steps

ROOT_ADDRESS, WORKER_ADDRESS = "198.18.0.1", "198.18.0.2"
"""The worker host's link; the servers and the load generators' master listen on ROOT_ADDRESS."""
LOADGEN_ROOT_END, LOADGEN_ADDRESS = "198.18.0.5", "198.18.0.6"
NAMESPACE_HOST = "bench-netns-worker"
"""The load generator host's link: its way to ROOT_ADDRESS goes through the root namespace."""


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@contextlib.contextmanager
def _namespace(name: str, root_address: str, host_address: str, reach: str | None = None):
    """A namespace whose only way out is a veth link to `root_address` in the root namespace (and
    through it to `reach`, an address of the root namespace on another link)."""
    root_end, host_end = f"{name}-r"[-15:], f"{name}-h"[-15:]
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        steps = [
            ("link", "add", root_end, "type", "veth", "peer", "name", host_end),
            ("link", "set", host_end, "netns", name),
            ("addr", "add", f"{root_address}/30", "dev", root_end),
            ("link", "set", root_end, "up"),
            ("netns", "exec", name, "ip", "addr", "add", f"{host_address}/30", "dev", host_end),
            ("netns", "exec", name, "ip", "link", "set", host_end, "up"),
            ("netns", "exec", name, "ip", "link", "set", "lo", "up"),
        ]
        if reach:
            steps.append(("netns", "exec", name, "ip", "route", "add", f"{reach}/32", "via", root_address))
        for args in steps:
            done = _ip(*args)
            assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"
        yield name
    finally:
        left = _ip("netns", "pids", name).stdout.split()
        for pid in left:  # only processes inside the namespace this test made
            psutil.Process(int(pid)).kill()
        _ip("link", "del", root_end)
        _ip("netns", "del", name)
        assert not left, f"processes left in namespace {name}: {left}"


@pytest.fixture
def hosts():
    """Two stand-in hosts: one for a bench worker, one for a bench loadgen."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    suffix = os.getpid() % 100000
    with (
        _namespace(f"bw{suffix}", ROOT_ADDRESS, WORKER_ADDRESS) as worker_host,
        _namespace(f"bl{suffix}", LOADGEN_ROOT_END, LOADGEN_ADDRESS, reach=ROOT_ADDRESS) as loadgen_host,
    ):
        yield worker_host, loadgen_host


def _agent(control_url: str, log_dir, namespace: str | None = None) -> subprocess.Popen:
    """A bench worker with one worker process: on this host, or inside `namespace` under a host name
    of its own (a UTS namespace), so that its tasks' records say where they ran."""
    command = [
        sys.executable,
        "-m",
        "bench",
        "worker",
        "--control",
        control_url,
        "--log-dir",
        str(log_dir),
        "--processes",
        "1",
    ]
    if namespace:
        command = [
            "ip",
            "netns",
            "exec",
            namespace,
            "unshare",
            "--uts",
            "sh",
            "-c",
            f'hostname {NAMESPACE_HOST} && exec "$@"',
            "sh",
            *command,
        ]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(f"{log_dir}.err", "w"), start_new_session=True
    )


@pytest.mark.measurement
def test_workers_and_a_load_generator_in_other_namespaces_match_this_hosts(tmp_path, hosts, bench_run):
    """One run, workers here and in the namespace serving the same queue at the same time: this shared
    VM's speed drifts by 20-40 % between runs a minute apart (the same connect takes 7 ms in one run,
    9 in the next), so the namespace's tasks are set against this host's tasks of the same minutes."""
    worker_host, loadgen_host = hosts
    t0 = time.time()
    with ManagedRedis(tmp_path, name="control", listen=ROOT_ADDRESS) as control:
        agents = [
            _agent(control.url, tmp_path / "agent-here"),
            _agent(control.url, tmp_path / "agent-there", worker_host),
        ]
        port = free_loopback_port()
        loadgen = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                loadgen_host,
                sys.executable,
                "-m",
                "bench",
                "loadgen",
                "--master",
                f"{ROOT_ADDRESS}:{port}",
                "--log-dir",
                str(tmp_path / "loadgen"),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "loadgen.err", "w"),
            start_new_session=True,
        )
        try:
            done = run_bench(
                "run",
                "--profile",
                "smoke",
                "--rates",
                "20",
                "--step-seconds",
                "8",
                "--listen",
                ROOT_ADDRESS,
                "--workers",
                "external",
                "--external-workers",
                "2",
                "--external-loadgens",
                "1",
                "--loadgen-port",
                str(port),
                "--results-dir",
                str(tmp_path / "r"),
                "--plots-dir",
                str(tmp_path / "p"),
                env={"BENCH_CONTROL_URL": control.url},
            )
            assert done.returncode == 0, done.stderr[-3000:] + (tmp_path / "agent-there.err").read_text()[-2000:]
            assert all(agent.wait(timeout=20) == 0 for agent in agents)
            assert loadgen.wait(timeout=30) == 0, (tmp_path / "loadgen.err").read_text()[-2000:]
        finally:
            for process in (*agents, loadgen):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
    run_dir = _only_run(tmp_path / "r")
    # The agent and the load generator really ran inside their namespaces: the control channel and
    # the master saw them come from there.
    log = (run_dir / "bench.log").read_text()
    assert f"({WORKER_ADDRESS})" in log and f"({LOADGEN_ADDRESS}, pid" in log
    (row,) = _steps(run_dir)
    assert int(row["lost"]) == 0 and int(row["completed"]) + int(row["failed"]) == int(row["enqueued"]) == 160
    assert float(row["sessions_per_task"]) == pytest.approx(1.0, abs=0.05), row
    assert abs(float(row["clock_offset_ms"])) < CLOCK_ACCURACY_MS  # one kernel, one clock, whatever the namespace
    assert int(row["loadgen_processes"]) == 2 and _loadgen_processes(run_dir, row)["1"]["send_late_p99_ms"]
    with gzip.open(run_dir / "tasks.csv.gz", "rt", newline="") as f:
        tasks = [t for t in csv.DictReader(f) if t["status"] == "completed" and t["warmup"] == "False"]
    by_host = {
        host: [float(t["latency_ms"]) for t in tasks if t["worker_host"] == host]
        for host in {t["worker_host"] for t in tasks}
    }
    here = socket.gethostname()
    assert set(by_host) == {here, NAMESPACE_HOST}, set(by_host)
    assert min(len(latencies) for latencies in by_host.values()) >= 40, {h: len(v) for h, v in by_host.items()}
    p50 = {host: statistics.median(latencies) for host, latencies in by_host.items()}
    assert p50[NAMESPACE_HOST] == pytest.approx(p50[here], rel=0.2), p50
    assert not _bench_children_started_after(t0)
