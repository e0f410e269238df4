"""Load generators on other hosts: `bench loadgen --master HOST:PORT` joins every step's Locust
master, takes its share of the schedule and sends it in bench's clock (its offset to the master's
clock estimated over the same connection). Here on loopback, with a test-only skew on its clock;
tests/test_netns.py runs one in a network namespace of its own."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

from bench.urls import free_loopback_port
from tests.conftest import CLOCK_ACCURACY_MS, ON_TIME_MS, REPO, run_bench
from tests.test_run import _bench_children_started_after, _loadgen_processes, _only_run, _steps

SKEW_MS = 250


def _start_loadgen(master: str, log_dir, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "loadgen", "--master", master, "--log-dir", str(log_dir)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


@pytest.mark.measurement
def test_a_load_generator_on_a_skewed_clock_sends_its_share_at_bench_times(tmp_path, bench_run):
    t0 = time.time()
    port = free_loopback_port()
    loadgen = _start_loadgen(
        f"127.0.0.1:{port}", tmp_path / "loadgen", {"BENCH_TEST_CLOCK_SKEW_NS": str(SKEW_MS * 1_000_000)}
    )
    try:
        done = run_bench(
            "run",
            "--profile",
            "smoke",
            "--architectures",
            "prefork-sync-pool",
            "--rates",
            "60",
            "--step-seconds",
            "3",
            "--external-loadgens",
            "1",
            "--loadgen-port",
            str(port),
            "--results-dir",
            str(tmp_path / "r"),
            "--plots-dir",
            str(tmp_path / "p"),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert loadgen.wait(timeout=30) == 0
        assert "the run is over (2 step(s) sent)" in loadgen.stderr.read()  # the rate step and its warm-up
    finally:
        if loadgen.poll() is None:
            os.killpg(loadgen.pid, signal.SIGKILL)
    run_dir = _only_run(tmp_path / "r")
    for row in _steps(run_dir):
        assert int(row["loadgen_processes"]) == 2
        assert int(row["enqueued"]) == int(row["scheduled"]) and int(row["lost"]) == 0
        assert int(row["completed"]) + int(row["failed"]) == int(row["enqueued"])
        processes = _loadgen_processes(run_dir, row)
        offsets = {
            int(name): (float(p["clock_offset_ms"]), float(p["clock_uncertainty_ms"]))
            for name, p in processes.items()
            if p["clock_offset_ms"]
        }
        # The local process shares bench's clock; the other runs 250 ms ahead: its offset to the
        # master's clock is -250 ms, within the estimate's uncertainty (+ CLOCK_ACCURACY_MS for the clock's drift
        # between estimate and use, far more than it is).
        assert abs(offsets[0][0]) <= offsets[0][1] + CLOCK_ACCURACY_MS
        assert abs(offsets[1][0] + SKEW_MS) <= offsets[1][1] + CLOCK_ACCURACY_MS, offsets
        # Sent on bench's time: uncorrected, its sends would start 250 ms early or late.
        late = {name: p["send_late_p99_ms"] for name, p in processes.items() if p["send_late_p99_ms"]}
        assert 0 <= float(late["1"]) < ON_TIME_MS, late
        assert float(row["latency_p50_ms"]) < ON_TIME_MS, row["latency_p50_ms"]
    for entry in json.loads((run_dir / "run.json").read_text())["clock_offsets"]:
        assert entry["loadgens"]["1"]["offset_ms"] == pytest.approx(
            -SKEW_MS, abs=entry["loadgens"]["1"]["uncertainty_ms"] + CLOCK_ACCURACY_MS
        )
    with gzip.open(run_dir / "tasks.csv.gz", "rt", newline="") as f:
        by_sender = Counter(r["loadgen"] for r in csv.DictReader(f))
    # Every second measured arrival each (the warm-ups, with load generators of their own, are not in tasks.csv.gz).
    assert by_sender["0"] == by_sender["1"] == 60 * 3 // 2, by_sender
    assert "another host" in (run_dir / "bench.log").read_text()
    assert not _bench_children_started_after(t0)


def test_a_taken_master_port_fails_the_run_in_one_line(tmp_path, bench_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_bench(
            "run",
            "--profile",
            "smoke",
            "--external-loadgens",
            "1",
            "--loadgen-port",
            str(port),
            "--results-dir",
            str(tmp_path / "r"),
            "--plots-dir",
            str(tmp_path / "p"),
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("loadgen", "--master", "nope"), "--master takes HOST:PORT"),
        (
            ("run", "--profile", "smoke", "--external-loadgens", "-1"),
            "external_loadgens = -1 (from --external-loadgens): must be",
        ),
        (
            ("run", "--profile", "smoke", "--external-loadgens", "1", "--loadgen-port", "80"),
            "loadgen_port = 80 (from --loadgen-port): must be a port",
        ),
    ],
)
def test_bad_load_generator_input_is_one_line(args, message, bench_cli):
    done = run_bench(*args)
    assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
