"""Clock offsets: the estimate finds a known offset within its stated uncertainty, and a run whose
workers' clock is skewed (a test-only setting) reports latencies as if it were not."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import statistics
import time

import pytest
import redis

from bench.clock import WORKER_SKEW_ENV, estimate_offset, redis_time_ns
from tests.conftest import CLOCK_ACCURACY_MS, ON_TIME_MS, run_bench
from tests.test_external_workers import _agent, control  # noqa: F401 (a fixture)
from tests.test_run import _only_run, _steps

SKEW_MS = 250


def test_estimate_finds_a_known_offset_within_its_uncertainty():
    # A reference 5 s ahead of this clock, read with a 1 ms round trip.
    def reference() -> int:
        time.sleep(0.0005)
        value = time.monotonic_ns() + 5_000_000_000
        time.sleep(0.0005)
        return value

    offset = estimate_offset(reference, clock=time.monotonic_ns)
    assert abs(offset.offset_ns - 5_000_000_000) <= offset.uncertainty_ns
    assert 500_000 <= offset.uncertainty_ns < 5_000_000


def test_offset_to_a_redis_clock_on_this_host_is_its_wall_clock_less_the_monotonic_one(services):
    client = redis.Redis.from_url(services.broker_url)
    offset = estimate_offset(lambda: redis_time_ns(client), clock=time.monotonic_ns)
    expected = time.time_ns() - time.monotonic_ns()
    assert abs(offset.offset_ns - expected) <= offset.uncertainty_ns + 2_000_000  # Redis TIME has µs steps
    assert offset.uncertainty_ns < 2_000_000  # loopback


@pytest.mark.measurement
def test_records_over_the_control_channel_find_a_skewed_worker_clock_also_over_tls(tmp_path, bench_run):
    """Celery's and taskiq's workers with their clock skewed, records over the control channel; with
    redis_tls the broker and the channel take TLS only, so every producer, worker and record goes over it."""
    done = run_bench(
        "run",
        "--profile",
        "smoke",
        "--architectures",
        "prefork-sync-pool,async-queue",
        "--rates",
        "40",
        "--step-seconds",
        "3",
        "--records",
        "control",
        "--redis-tls",
        "on",
        "--results-dir",
        str(tmp_path),
        "--plots-dir",
        str(tmp_path / "plots"),
        env={WORKER_SKEW_ENV: str(SKEW_MS)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = _only_run(tmp_path)
    rows = _steps(run_dir)
    assert [row["architecture"] for row in rows] == ["prefork-sync-pool", "async-queue"]
    offsets = json.loads((run_dir / "run.json").read_text())["clock_offsets"]
    for row, in_run_json in zip(rows, offsets):
        assert int(row["scheduled"]) == int(row["enqueued"]) == int(row["completed"]) == 120 and int(row["lost"]) == 0
        assert float(row["clock_offset_ms"]) == pytest.approx(SKEW_MS, abs=float(row["clock_uncertainty_ms"]) + 0.05)
        assert float(row["clock_uncertainty_ms"]) < CLOCK_ACCURACY_MS
        assert float(row["queue_wait_p50_ms"]) < ON_TIME_MS  # uncorrected it would be 250 ms less: negative
        assert in_run_json["workers"]["offset_ms"] == pytest.approx(float(row["clock_offset_ms"]), abs=1e-4)
        assert in_run_json["workers"]["uncertainty_ms"] == pytest.approx(float(row["clock_uncertainty_ms"]), abs=1e-4)
    log = (run_dir / "bench.log").read_text()
    assert "started redis" in log and "started control" in log and log.count("tls=True") == 2


def test_tasks_of_a_skewed_worker_host_take_what_the_others_take_once_corrected(tmp_path, control, bench_run):  # noqa: F811
    """Two bench worker agents share the queue, one with its workers' clock 250 ms ahead. Both
    halves of the tasks ran at the same time on the same machine, so the machine's drift between
    runs (20-40 % on this shared VM) cannot tell them apart: only a wrong correction could."""
    plain = _agent(control, tmp_path / "plain", "--processes", "1")
    skewed = _agent(control, tmp_path / "skewed", "--processes", "1", env={WORKER_SKEW_ENV: str(SKEW_MS)})
    try:
        done = run_bench(
            "run",
            "--profile",
            "smoke",
            "--architectures",
            "prefork-sync-pool",
            "--rates",
            "40",
            "--step-seconds",
            "8",
            "--workers",
            "external",
            "--external-workers",
            "2",
            "--results-dir",
            str(tmp_path / "r"),
            "--plots-dir",
            str(tmp_path / "p"),
            env={"BENCH_CONTROL_URL": control},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert plain.wait(timeout=20) == 0 and skewed.wait(timeout=20) == 0
    finally:
        for agent in (plain, skewed):
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)
    run_dir = _only_run(tmp_path / "r")
    with gzip.open(run_dir / "tasks.csv.gz", "rt", newline="") as f:
        tasks = [r for r in csv.DictReader(f) if r["status"] == "completed" and r["warmup"] == "False"]
    assert len(tasks) == 320
    ahead = [r for r in tasks if float(r["clock_offset_ms"]) > SKEW_MS / 2]
    level = [r for r in tasks if float(r["clock_offset_ms"]) <= SKEW_MS / 2]
    assert len(ahead) >= 80 and len(level) >= 80, (len(ahead), len(level))  # both hosts took a fair part
    uncertainty = float(_steps(run_dir)[0]["clock_uncertainty_ms"])
    assert all(abs(float(r["clock_offset_ms"]) - SKEW_MS) <= uncertainty + 0.05 for r in ahead)
    assert all(abs(float(r["clock_offset_ms"])) <= uncertainty + 0.05 for r in level)
    # Corrected, the median latency of the skewed host's tasks is the other's within 1 ms, where
    # uncorrected it would be 250 ms more.
    p50 = {
        name: statistics.median(float(r["latency_ms"]) for r in group)
        for name, group in (("ahead", ahead), ("level", level))
    }
    assert p50["ahead"] == pytest.approx(p50["level"], abs=1.0), p50
