"""The delay proxy against the real managed PostgreSQL: it delays by the round trip it is given,
counts a new connection's handshake, passes everything else through untouched, and leaves nothing."""

import asyncio
import statistics
import time

import asyncpg
import psutil
import pytest
from sqlalchemy.engine import make_url

from bench.analysis.model import CONNECT_ROUND_TRIPS
from bench.services.delay_proxy import ManagedDelayProxy

RTT_MS = 20.0
"""Large beside this machine's own connect (about 3-6 ms) and its timer slack, so the round trips stand out."""


def _params(url: str, port: int) -> dict:
    u = make_url(url)
    return dict(host="127.0.0.1", port=port, user=u.username, password=u.password, database=u.database, ssl="disable")


async def _connect_and_query_ms(params: dict, queries: int = 5) -> tuple[float, list[float]]:
    started = time.perf_counter()
    connection = await asyncpg.connect(**params)
    connect_ms = 1000 * (time.perf_counter() - started)
    query_ms = []
    for _ in range(queries):
        started = time.perf_counter()
        assert await connection.fetchval("SELECT 41 + 1") == 42
        query_ms.append(1000 * (time.perf_counter() - started))
    await connection.close()
    return connect_ms, query_ms


def _median_exchanges_ms(params: dict, far_params: dict, times: int = 7) -> tuple[tuple[float, float, float], ...]:
    """The median connect, first query and later query over several connections, direct and through the
    proxy taken in turn: each costs a few ms of CPU (SCRAM, a backend's start) that this shared VM's
    noise can double for a while, and in turn both sides see the same noise."""
    runs = {"direct": [], "far": []}
    for _ in range(times):
        runs["direct"].append(asyncio.run(_connect_and_query_ms(params)))
        runs["far"].append(asyncio.run(_connect_and_query_ms(far_params)))
    return tuple(
        (
            statistics.median(connect for connect, _ in side),
            statistics.median(queries[0] for _, queries in side),
            statistics.median(q for _, queries in side for q in queries[1:]),
        )
        for side in runs.values()
    )


def test_the_proxy_adds_its_round_trip_to_every_exchange_and_the_handshake(services, tmp_path):
    with ManagedDelayProxy(tmp_path, "127.0.0.1", services.postgres.port, RTT_MS) as proxy:
        (direct_connect, direct_first, direct_later), (far_connect, far_first, far_later) = _median_exchanges_ms(
            _params(services.database_url, services.postgres.port), _params(services.database_url, proxy.port)
        )
        pid = proxy.pid
    # SCRAM login: TCP handshake + startup + two SASL exchanges = 4 round trips (the model's count).
    trips = CONNECT_ROUND_TRIPS["scram-sha-256"]
    assert far_connect - direct_connect == pytest.approx(trips * RTT_MS, rel=0.15)
    # fetchval on a new statement: prepare, then bind/execute: 2 round trips; later calls hit
    # asyncpg's statement cache: 1.
    assert far_first - direct_first == pytest.approx(2 * RTT_MS, rel=0.15)
    assert far_later - direct_later == pytest.approx(RTT_MS, rel=0.1)
    assert not psutil.pid_exists(pid)
    # Its counters: the readiness check's connection and the test's seven.
    assert "delay_proxy stopping: connections=8 refused=0" in (tmp_path / "proxy.log").read_text()


def test_without_delay_the_proxy_passes_a_whole_result_through_at_once(services, tmp_path):
    async def rows(port: int) -> tuple[int, float]:
        connection = await asyncpg.connect(**_params(services.database_url, port))
        started = time.perf_counter()
        # About 4 MB in one answer: many reads and writes, some of them partial.
        result = await connection.fetch("SELECT g, repeat('x', 200) FROM generate_series(1, 20000) AS g")
        elapsed_ms = 1000 * (time.perf_counter() - started)
        await connection.close()
        return sum(r[0] for r in result), elapsed_ms

    with ManagedDelayProxy(tmp_path, "127.0.0.1", services.postgres.port, 0) as proxy:
        total, _ = asyncio.run(rows(proxy.port))
    assert total == 20000 * 20001 // 2
