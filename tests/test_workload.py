"""A workload runs unchanged through sync and async sessions, against the real database."""

import asyncio
import random
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

from bench.engines import admin_engine, async_nullpool_engine, sync_pooled_engine
from bench.errors import BenchError
from bench.workload import run_async, run_sync
from bench.workload_loader import make_workload, shipped_workloads as workload_classes
from tests.conftest import SLOW_TASK_SLACK_S


def test_point_select_is_discovered_and_seeds_its_rows(services):
    assert "point_select" in workload_classes()
    workload = make_workload("point_select", 500)
    engine = admin_engine(services.database_url)
    with engine.begin() as conn:
        workload.setup(conn)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), min(id), max(id) FROM bench_items")).one() == (500, 1, 500)
    engine.dispose()


def test_point_select_runs_through_sync_and_async_sessions(services):
    from bench.probes.server_stats import ServerStats

    stats = ServerStats(services.database_url)
    workload = make_workload("point_select", 500)
    before = stats.sessions_total()
    sync_engine = sync_pooled_engine(services.database_url, "t", 1, 0)
    for _ in range(5):
        run_sync(sessionmaker(sync_engine), workload, random.Random(1))
    sync_engine.dispose()
    pooled = _sessions_since(stats, before, 1)

    async def go():
        engine = async_nullpool_engine(services.database_url, "t")
        for _ in range(5):
            await run_async(async_sessionmaker(engine, expire_on_commit=False), workload, random.Random(1))
        await engine.dispose()

    asyncio.run(go())
    # The server's own count: the pool kept one session for five tasks; NullPool opened one per task.
    assert pooled == 1 and _sessions_since(stats, before, 6) == 6
    stats.close()


def _sessions_since(stats, before: int, expected: int) -> int:
    """Sessions the server counted since `before`, waiting up to 3 s for the last to be published."""
    deadline = time.monotonic() + 3
    while (count := stats.sessions_total() - before) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_unknown_workload_and_parameter_are_refused():
    with pytest.raises(BenchError, match="unknown workload"):
        make_workload("nosuch", 10)
    with pytest.raises(BenchError, match="no parameter"):
        make_workload("point_select", 10, {"sleep_ms": 5})


def test_write_txn_inserts_and_counts_in_one_transaction(services):
    workload = make_workload("write_txn", 50)
    engine = admin_engine(services.database_url)
    with engine.begin() as conn:
        workload.setup(conn)
    sync_engine = sync_pooled_engine(services.database_url, "t", 1, 0)
    for _ in range(20):
        run_sync(sessionmaker(sync_engine), workload, random.Random())
    sync_engine.dispose()
    with engine.connect() as conn:
        events, total = conn.execute(
            text("SELECT (SELECT count(*) FROM bench_events), (SELECT sum(value) FROM bench_counters)")
        ).one()
    engine.dispose()
    assert events == total == 20


@pytest.mark.measurement
def test_io_wait_holds_the_connection_for_its_sleep(services):
    import time

    workload = make_workload("io_wait", 1, {"sleep_ms": 150})

    async def go():
        engine = async_nullpool_engine(services.database_url, "t")
        started = time.perf_counter()
        await run_async(async_sessionmaker(engine, expire_on_commit=False), workload, random.Random())
        await engine.dispose()
        return time.perf_counter() - started

    took_s = asyncio.run(go())
    assert took_s >= 0.15  # the sleep on the server holds the task for its 150 ms
    assert took_s < 0.15 + SLOW_TASK_SLACK_S
