"""Per-call costs measured at the start of a run, for the capacity model (bench/analysis/model.py).

- async_to_sync_ms: one `async_to_sync(noop)()` call, which starts a thread and an event loop;
- scram_client_ms: one PBKDF2-HMAC-SHA256 of 4096 iterations, the CPU a SCRAM login costs the client
  (the server keeps derived keys and only checks HMACs);
- tls_connect_ms, tls_client_cpu_ms, tls_server_cpu_ms, tls_cpu_ms: what TLS adds to one asyncpg
  connection to the managed server, in wall time and in CPU of each end and both (`tls_costs`; the managed server always has a certificate, so this is
  measured whether the run uses TLS or not).
Medians of repeated calls in bench's own process, on this machine; TLS costs are means.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time

import asyncpg
from asgiref.sync import async_to_sync
from sqlalchemy.engine import make_url

from bench.probes.process_meter import ProcessMeter

SCRAM_ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SERVER_SETTLE_S = 0.1


async def _noop() -> None:
    return None


def _median_ms(call, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(samples)


def calibrate() -> dict[str, float]:
    bridge = async_to_sync(_noop)
    return {
        "async_to_sync_ms": round(_median_ms(bridge, 200), 4),
        "scram_client_ms": round(
            _median_ms(lambda: hashlib.pbkdf2_hmac("sha256", b"password", b"0123456789abcdef", SCRAM_ITERATIONS), 30), 4
        ),
    }


TLS_CONNECTIONS = 100
"""Connections per mode, alternating in rounds of 10: about 2 s in all on a 2-core machine. Fewer let
the 10 ms ticks in which the kernel counts the server's CPU show: 40 a mode gave 2.8 and 5.6 ms."""


def tls_costs(database_url: str, server: ProcessMeter, connections: int = TLS_CONNECTIONS) -> dict[str, float]:
    """What TLS adds to one connection of the recipe's driver (asyncpg) to this server: wall time
    (`tls_connect_ms`) and CPU of the client, the server and both (`tls_cpu_ms`): plain and TLS connections
    alternate, client CPU from this process, server CPU from its process tree (exited backends included)."""
    url = make_url(database_url)
    params = dict(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        server_settings={"application_name": "bench-calibration"},
    )
    totals = {mode: [0.0, 0.0, 0.0] for mode in ("disable", "require")}  # wall s, client CPU s, server CPU s

    async def connect(mode: str, count: int) -> None:
        for _ in range(count):
            connection = await asyncpg.connect(ssl=mode, **params)
            await connection.close()

    for mode in totals:  # unmeasured: first imports and loads, and a just-started server's own work
        asyncio.run(connect(mode, 5))
    for _ in range(connections // 10):
        for mode in totals:
            client_before, server_before, wall_before = time.process_time(), server.cpu_seconds(), time.perf_counter()
            asyncio.run(connect(mode, 10))
            wall = time.perf_counter() - wall_before
            time.sleep(SERVER_SETTLE_S)  # the last backend exits and is reaped, its CPU counted
            totals[mode][0] += wall
            totals[mode][1] += time.process_time() - client_before
            totals[mode][2] += server.cpu_seconds() - server_before
    count = 10 * (connections // 10)
    extra_ms = [round(1000 * (tls - plain) / count, 4) for plain, tls in zip(totals["disable"], totals["require"])]
    return {
        "tls_connect_ms": extra_ms[0],
        "tls_client_cpu_ms": extra_ms[1],
        "tls_server_cpu_ms": extra_ms[2],
        "tls_cpu_ms": round(extra_ms[1] + extra_ms[2], 4),
    }
