"""What does bench's delay proxy add by itself? Round trips through it at rtt 0 against direct ones.

On one throwaway PostgreSQL, alternately direct and through a delay proxy with `rtt_ms = 0`:
- `pgbench -R RATE` (one client, `SELECT 1` per transaction, libpq): its average latency, one round
  trip per transaction, at a fixed rate of round trips (1000/s by default);
- asyncpg connects (4 round trips with SCRAM): their median time.
The difference, per round trip, is what the proxy adds; the goal is at most 0.1 ms at 1000 round
trips/s. pgbench's own latency count is the independent measure: the proxy times nothing itself.

    .venv/bin/python benchmarks/proxy_overhead.py [--rate 1000] [--seconds 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.analysis.model import CONNECT_ROUND_TRIPS
from bench.services.binaries import postgres_bindir
from bench.services.delay_proxy import ManagedDelayProxy
from bench.services.postgres import ManagedPostgres

CONNECTS = 200


def pgbench_latency_ms(url: str, port: int, rate: float, seconds: float) -> float:
    u = make_url(url)
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": u.username,
        "PGPASSWORD": u.password,
        "PGDATABASE": u.database,
        "PGSSLMODE": "disable",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write("SELECT 1;\n")
        script.flush()
        out = subprocess.run(
            [
                os.path.join(postgres_bindir(), "pgbench"),
                "-n",
                "-R",
                f"{rate:g}",
                "-T",
                str(round(seconds)),
                "-f",
                script.name,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
    found = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    if not found:
        raise SystemExit(f"pgbench failed: {out.stderr.strip()}")
    return float(found.group(1))


def connect_p50_ms(url: str, port: int) -> float:
    u = make_url(url)

    async def measure() -> float:
        samples = []
        for _ in range(CONNECTS):
            started = time.perf_counter()
            connection = await asyncpg.connect(
                host="127.0.0.1", port=port, user=u.username, password=u.password, database=u.database, ssl="disable"
            )
            samples.append(1000 * (time.perf_counter() - started))
            await connection.close()
        return statistics.median(samples)

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="pgbench round trips per second")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-overhead-"))
    trips = CONNECT_ROUND_TRIPS["scram-sha-256"]
    with ManagedPostgres(work) as pg, ManagedDelayProxy(work, "127.0.0.1", pg.port, 0) as proxy:
        print(
            f"{'run':>3} {'pgbench direct':>15} {'via proxy':>10} {'added/rt':>9} "
            f"{'connect direct':>15} {'via proxy':>10} {'added/rt':>9}   (ms)"
        )
        added_pgbench, added_connect = [], []
        for run in range(1, args.repeat + 1):
            direct, proxied = (
                pgbench_latency_ms(pg.url, port, args.rate, args.seconds) for port in (pg.port, proxy.port)
            )
            c_direct, c_proxied = (connect_p50_ms(pg.url, port) for port in (pg.port, proxy.port))
            added_pgbench.append(proxied - direct)
            added_connect.append((c_proxied - c_direct) / trips)
            print(
                f"{run:>3} {direct:>15.3f} {proxied:>10.3f} {proxied - direct:>9.3f} "
                f"{c_direct:>15.3f} {c_proxied:>10.3f} {(c_proxied - c_direct) / trips:>9.3f}"
            )
        print(
            f"median added per round trip: pgbench at {args.rate:g}/s {statistics.median(added_pgbench):.3f} ms, "
            f"connect {statistics.median(added_connect):.3f} ms (goal: at most 0.100)"
        )


if __name__ == "__main__":
    main()
