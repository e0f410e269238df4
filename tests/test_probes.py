"""The server-side probes agree with connections opened on purpose (an independent count)."""

import time

import psycopg

import pytest

from bench.probes.connection_sampler import ConnectionSampler
from bench.probes.server_stats import ServerStats
from tests.conftest import SAMPLES_SHARE


def test_sessions_total_counts_every_connection_opened(services):
    stats = ServerStats(services.database_url)
    before = stats.sessions_total()
    for _ in range(7):
        psycopg.connect(services.database_url, application_name="bench:probe-test").close()
    time.sleep(0.3)  # closed backends publish their counts as they exit
    assert stats.sessions_total() - before == 7
    stats.close()


@pytest.mark.measurement
def test_sampler_counts_the_benchmarks_connections_by_state_and_not_its_own(services, tmp_path):
    conns = [psycopg.connect(services.database_url, application_name="bench:sampler-test") for _ in range(3)]
    other = psycopg.connect(services.database_url, application_name="someone-else")
    conns[0].execute("BEGIN")
    conns[0].execute("SELECT 1")
    sampler = ConnectionSampler(services.database_url, tmp_path / "samples.csv", time.monotonic_ns(), 0.02)
    sampler.label = ("x", 0)
    sampler.start()
    time.sleep(0.5)
    sampler.stop()
    for conn in [*conns, other]:
        conn.close()
    samples = sampler.samples
    assert len(samples) >= SAMPLES_SHARE * 0.5 / 0.02  # a 20 ms interval over 0.5 s
    assert all(s.connections == 3 and s.idle == 2 and s.idle_in_transaction == 1 for s in samples)
    lines = (tmp_path / "samples.csv").read_text().splitlines()
    assert lines[0].startswith("elapsed_s,architecture,step,connections")
    assert len(lines) == len(samples) + 1


def test_queue_depth_probe_follows_the_messages_waiting_in_redis(services, tmp_path):
    import redis

    from bench.probes.queue_depth import QueueDepthProbe

    client = redis.Redis.from_url(services.broker_url)
    client.delete("depth-test")
    probe = QueueDepthProbe(
        services.broker_url, "depth-test", "x", tmp_path / "queue_depth.csv", time.monotonic_ns(), interval_s=0.02
    )
    probe.step = 0
    probe.start()
    try:
        time.sleep(0.2)
        client.lpush("depth-test", *range(25))
        time.sleep(0.2)
        client.rpop("depth-test", 10)
        time.sleep(0.2)
    finally:
        probe.stop()
        client.delete("depth-test")
    depths = [s.ready for s in probe.samples]
    # Every sample is one of the three states the list was in, and each state was seen.
    assert set(depths) == {0, 25, 15}, depths
    assert depths.index(25) > depths.index(0) and depths.index(15) > depths.index(25)
    lines = (tmp_path / "queue_depth.csv").read_text().splitlines()
    assert lines[0] == "elapsed_s,architecture,step,ready" and len(lines) == len(depths) + 1


def test_the_core_speed_probe_times_its_unit_on_each_cpu_set_it_is_given():
    import os

    from bench.probes.core_speed import ANY_CORE, EVERY_S, CoreSpeedProbe, core_sets

    assert core_sets({}) == {ANY_CORE: None}
    assert core_sets({"db": "0", "workers": "1", "broker": "1"}) == {"0": frozenset({0}), "1": frozenset({1})}
    first = min(os.sched_getaffinity(0))
    probe = CoreSpeedProbe({ANY_CORE: None, str(first): frozenset({first})})
    begin = time.monotonic_ns()
    probe.start()
    time.sleep(6 * EVERY_S)
    probe.stop()
    end = time.monotonic_ns()
    medians = probe.medians(begin, end)
    assert set(medians) == {ANY_CORE, str(first)}
    # Several samples each, a fraction of a millisecond to a few ms of CPU (1000 PBKDF2 rounds).
    assert all(len(samples) >= 3 for samples in probe.samples.values())
    assert all(0.01 < ms < 50 for ms in medians.values()), medians
    assert probe.medians(end, end + 10**9) == {}  # nothing sampled after it stopped
    assert not any(t.is_alive() for t in probe._threads)
