"""Clock offsets: the estimate finds a known offset within its stated uncertainty, and a run whose
workers' clock is skewed (a test-only setting) reports latencies as if it were not."""

from __future__ import annotations

import csv
import time

import pytest
import redis

from bench.clock import estimate_offset, redis_time_ns
from tests.conftest import run_bench


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


def _control_run(tmp_path, skew_ms: int) -> dict:
    done = run_bench("run", "--profile", "smoke", "--architectures", "prefork-sync-pool", "--rates", "40",
                     "--step-seconds", "4", "--records", "control", "--results-dir", str(tmp_path),
                     "--plots-dir", str(tmp_path / "plots"), env={"BENCH_TEST_WORKER_CLOCK_SKEW_MS": str(skew_ms)})
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "plots"]
    with open(run_dir / "steps.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["scheduled"]) == int(row["enqueued"]) == int(row["completed"]) == 160 and int(row["lost"]) == 0
    return row


def test_records_over_the_control_channel_correct_a_skewed_worker_clock(tmp_path):
    plain = _control_run(tmp_path / "plain", 0)
    skewed = _control_run(tmp_path / "skewed", 250)
    # One host, one clock: the estimate comes out at about 0; the skewed workers' at about +250 ms.
    assert abs(float(plain["clock_offset_ms"])) <= float(plain["clock_uncertainty_ms"]) + 0.05
    assert float(skewed["clock_offset_ms"]) == pytest.approx(250, abs=float(skewed["clock_uncertainty_ms"]) + 0.05)
    assert float(skewed["clock_uncertainty_ms"]) < 1
    # Corrected, the skewed run's latency is the plain run's: within 1 ms at the median (two runs of a
    # 4 ms task on a shared machine), where uncorrected it would be 250 ms more.
    assert float(skewed["latency_p50_ms"]) == pytest.approx(float(plain["latency_p50_ms"]), abs=1.0)
    assert float(skewed["queue_wait_p50_ms"]) < 50
