"""An independent count of what a connection per task costs the database: `pgbench -C`.

pgbench (PostgreSQL's own load tool, libpq) runs the workload's statement as one transaction per
new connection against the same server, the same authentication and the same table, at a fixed
rate; the server's CPU over that time (its process tree, exited backends included), divided by the
transactions pgbench made, is set beside the recipe's `db_cpu_ms_per_task`. The two differ by what
the drivers do beyond the statement: asyncpg and SQLAlchemy ask the server a few more things per
new connection than libpq does.
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


@dataclass
class PgbenchCost:
    rate_per_s: float
    transactions: int
    db_cpu_ms_per_transaction: float


def pgbench_connect_cost(database_url: str, server: ProcessMeter, script: str, rate_per_s: float,
                         seconds: float) -> PgbenchCost:
    """Run `pgbench -C -R rate -T seconds` with `script`; the server's CPU per transaction."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        before = server.cpu_seconds()
        done = subprocess.run(_argv(database_url, f.name, rate_per_s, seconds), capture_output=True, text=True,
                              env={**os.environ, **_libpq_env(database_url)}, timeout=seconds + 60)
        time.sleep(0.2)  # the last backend exits and is reaped, its CPU counted
        cpu_s = server.cpu_seconds() - before
    finally:
        os.unlink(f.name)
    found = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"pgbench failed: {last}")
    transactions = int(found.group(1))
    return PgbenchCost(rate_per_s, transactions, 1000 * cpu_s / transactions if transactions else float("nan"))


def _argv(url: str, script_path: str, rate_per_s: float, seconds: float) -> list[str]:
    pgbench = os.path.join(postgres_bindir(), "pgbench")
    if not os.access(pgbench, os.X_OK):
        raise BenchError("pgbench not found; install postgresql-contrib (apt-get install postgresql-contrib)")
    return [pgbench, "-n", "-C", "-R", f"{rate_per_s:g}", "-T", str(max(1, round(seconds))), "-f", script_path]


def _libpq_env(url: str) -> dict[str, str]:
    """The URL as libpq's environment variables, so the password is on no command line."""
    parts = urlsplit(url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return {"PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432),
            "PGUSER": parts.username or "", "PGPASSWORD": parts.password or "",
            "PGDATABASE": parts.path.lstrip("/"), "PGSSLMODE": query.get("sslmode", "prefer"),
            "PGAPPNAME": "bench-pgbench"}
