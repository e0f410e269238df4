"""Prepared statements that PgBouncer's server connections keep, and what those backends weigh.

asyncpg behind PgBouncer's transaction pooling needs a unique name for every statement it prepares
(`engines.async_nullpool_engine`). A NullPool client closes its connection after each task, but the
statement stays on whichever server connection ran it, until PgBouncer closes that connection
(`server_lifetime`, an hour by default) or a DISCARD ALL drops it (`server_reset_query_always`).

After each step, bench opens as many transactions through PgBouncer at once as it has server
connections: in transaction pooling each transaction holds a server connection of its own, so each
reads `pg_prepared_statements` of a different one. The backends' private memory (USS, from the
kernel) is read by their PIDs, since a backend can only see its own memory contexts.
"""

from __future__ import annotations

import contextlib
import statistics
from dataclasses import dataclass

import psutil
import psycopg

from bench.errors import BenchError
from bench.probes.server_stats import one_row, scalar

BYTES_PER_MB = 2**20
PROBE_NAME = "bench-statements"


@dataclass
class HeldStatements:
    server_connections: int
    statements_mean: float
    statements_max: int
    backend_uss_mb_mean: float | None
    """Mean private memory of those backends (None when their processes cannot be read)."""

    def columns(self) -> dict[str, float | int | None]:
        return {
            "server_statements_mean": self.statements_mean,
            "server_statements_max": self.statements_max,
            "server_backend_uss_mb": self.backend_uss_mb_mean,
        }


def held_statements(pgbouncer_url: str, database_url: str, application_name: str) -> HeldStatements | None:
    """Statements on each of PgBouncer's server connections (those last used by `application_name`);
    None when it holds none."""
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None, application_name=PROBE_NAME) as direct:
        # A server connection shows the application_name of the last client PgBouncer linked to it.
        count = scalar(
            direct,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name IN (%s, %s)",
            (application_name, PROBE_NAME),
        )
    if not count:
        return None
    with contextlib.ExitStack() as stack:
        readings = []
        for _ in range(count):  # all open at once: each transaction holds a different server connection
            conn = stack.enter_context(
                psycopg.connect(pgbouncer_url, prepare_threshold=None, connect_timeout=10, application_name=PROBE_NAME)
            )
            readings.append(one_row(conn, "SELECT pg_backend_pid(), count(*) FROM pg_prepared_statements"))
    pids = {pid for pid, _ in readings}
    if len(pids) != len(readings):
        raise BenchError("PgBouncer gave two of bench's concurrent transactions one server connection")
    counts = [held for _, held in readings]
    return HeldStatements(len(readings), statistics.fmean(counts), max(counts), _uss_mb_mean(pids))


def _uss_mb_mean(pids: set[int]) -> float | None:
    try:
        return statistics.fmean(psutil.Process(pid).memory_full_info().uss / BYTES_PER_MB for pid in pids)
    except (psutil.Error, OSError):
        return None
