"""The connect-time probe and the engines, against the real managed PostgreSQL."""

import asyncio

from sqlalchemy import text

from bench.engines import async_nullpool_engine, async_pooled_engine, sync_pooled_engine
from bench.probes import connect_timer


async def _three_sessions(engine) -> list[int]:
    with connect_timer.collecting() as durations:
        for _ in range(3):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    await engine.dispose()
    return durations


def test_nullpool_opens_and_times_one_connection_per_session(services):
    durations = asyncio.run(_three_sessions(async_nullpool_engine(services.database_url, "t")))
    assert len(durations) == 3
    # A TCP + SCRAM + backend start on loopback takes well over 50 microseconds and under 5 s.
    assert all(50_000 < d < 5_000_000_000 for d in durations)


def test_pooled_async_engine_connects_once_for_three_sessions(services):
    durations = asyncio.run(_three_sessions(async_pooled_engine(services.database_url, "t", 2, 0)))
    assert len(durations) == 1


def test_sync_psycopg_engine_is_timed_too(services):
    engine = sync_pooled_engine(services.database_url, "t", 2, 0)
    with connect_timer.collecting() as durations:
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_setting('application_name')")).scalar() == "bench:t"
    engine.dispose()
    assert len(durations) == 1 and durations[0] > 50_000


def test_connects_outside_a_collecting_block_are_not_recorded(services):
    async def one():
        engine = async_nullpool_engine(services.database_url, "t")
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await engine.dispose()

    with connect_timer.collecting() as outer:
        pass
    asyncio.run(one())
    assert outer == []
