"""An independent count of what a connection per task costs the database: `pgbench -C`.

pgbench (PostgreSQL's own load tool, libpq) runs the workload's statement as one transaction per
new connection against the same server, the same authentication and the same table, at fixed
rates, the same as the recipe's: the server's CPU at each (its process tree, exited backends
included) is fitted against pgbench's transaction rate, and the slope, the marginal CPU of one more
connection's transaction, is set beside the recipe's marginal database CPU per task
(bench/analysis/costs.py). A slope leaves out what the server burns at any rate (its own background
processes, bench's sampler); with one rate, the ratio stands in. The two differ by what the drivers
do beyond the statement: asyncpg and SQLAlchemy ask the server a few more things per new connection
than libpq does.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.errors import BenchError
from bench.probes.process_meter import ProcessMeter
from bench.services.binaries import postgres_bindir
from bench.record.stats import fit_line


@dataclass
class PgbenchRun:
    """One pgbench -C run: its rate, transactions and the server's CPU over its time."""

    rate_per_s: float
    transactions: int
    seconds: float
    db_cpu_s: float


@dataclass
class PgbenchCost:
    runs: list[PgbenchRun]
    db_cpu_ms_per_transaction: float
    """The slope of the server's CPU over pgbench's transaction rate (the ratio with one run)."""
    method: str
    """"slope" over the runs' rates, or "ratio at one rate"."""


def pgbench_connect_cost(
    database_url: str, server: ProcessMeter, script: str, rates_per_s: list[float], seconds: float
) -> PgbenchCost:
    """Run `pgbench -C -R rate -T seconds` with `script` at each rate; the server's marginal CPU per transaction."""
    runs = [_pgbench_run(database_url, server, script, rate, seconds) for rate in sorted(set(rates_per_s))]
    xs = [run.transactions / run.seconds for run in runs]
    ys = [1000 * run.db_cpu_s / run.seconds for run in runs]  # ms of CPU per second
    if len(runs) < 2:
        return PgbenchCost(runs, ys[0] / xs[0] if xs[0] else float("nan"), "ratio at one rate")
    slope, _, _ = fit_line(xs, ys)
    return PgbenchCost(runs, slope, "slope")


def _pgbench_run(database_url: str, server: ProcessMeter, script: str, rate_per_s: float, seconds: float) -> PgbenchRun:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        before, started = server.cpu_seconds(), time.monotonic()
        done = subprocess.run(
            _argv(database_url, f.name, rate_per_s, seconds),
            capture_output=True,
            text=True,
            env={**os.environ, **_libpq_env(database_url)},
            timeout=seconds + 60,
        )
        time.sleep(0.2)  # the last backend exits and is reaped, its CPU counted
        cpu_s, elapsed = server.cpu_seconds() - before, time.monotonic() - started
    finally:
        os.unlink(f.name)
    found = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"pgbench failed: {last}")
    return PgbenchRun(rate_per_s, int(found.group(1)), elapsed, cpu_s)


def _argv(url: str, script_path: str, rate_per_s: float, seconds: float) -> list[str]:
    pgbench = os.path.join(postgres_bindir(), "pgbench")
    if not os.access(pgbench, os.X_OK):
        raise BenchError("pgbench not found; install postgresql-contrib (apt-get install postgresql-contrib)")
    return [pgbench, "-n", "-C", "-R", f"{rate_per_s:g}", "-T", str(max(1, round(seconds))), "-f", script_path]


def _libpq_env(url: str) -> dict[str, str]:
    """The URL as libpq's environment variables, so the password is on no command line."""
    parts = urlsplit(url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return {
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": parts.username or "",
        "PGPASSWORD": parts.password or "",
        "PGDATABASE": parts.path.lstrip("/"),
        "PGSSLMODE": query.get("sslmode", "prefer"),
        "PGAPPNAME": "bench-pgbench",
    }
