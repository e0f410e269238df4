"""How much does bench's own instrumentation cost? Saturation throughput with and without it.

For each architecture, on the same throwaway servers and the same profile settings, alternately:
- under bench: `bench run --rates max` (the queue filled by its load generator while the workers are
  paused, then the drain, with task records, connect timing, connection sampler, process meters),
  reading throughput_per_s from steps.csv;
- bare: the queue filled with Celery's own send_task, then the same workers started with
  `instrumented=False` (no task records, no connect timing), no sampler, no Locust; the drain timed
  from the first task's statement to the last one's by the server's own count of the workload's
  statement (pg_stat_statements, exact at statement end), polled at 50 Hz.
The ratio bench / bare is what bench takes from what it measures; the goal is >= 0.95.

    .venv/bin/python benchmarks/bare_drain.py [--tasks 2000] [--repeat 2] [--architectures a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import text

from bench.architectures import WorkerSpec, get_architecture
from bench.architectures.celery_common import send_task_producer
from bench.settings.config import read_config_file, resolve_profile
from bench.engines import admin_engine
from bench.services import Services, running_services
from bench.workload_loader import make_workload

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURES = ["prefork-nullpool", "prefork-sync-pool", "prefork-loop-pool", "threads-pool"]
STATEMENT = "SELECT bench_items.payload%"


def statement_calls(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s", (STATEMENT,)
    ).fetchone()
    return int(row[0])


def enqueue_all(architecture: str, spec: WorkerSpec, count: int) -> None:
    """Enqueue `count` tasks as fast as one thread can, with the architecture's own library
    (taskiq's producer in bench needs the load generator's gevent loop, so here it runs on asyncio)."""
    if architecture == "async-queue":
        from bench.architectures.async_queue import make_broker

        async def kick_all() -> None:
            broker, task = make_broker(spec)
            await broker.startup()
            limit = asyncio.Semaphore(8)

            async def kick(i: int) -> None:
                async with limit:
                    await task.kicker().with_task_id(f"0.{i}").kiq(f"0.{i}", time.monotonic_ns())

            await asyncio.gather(*(kick(i) for i in range(count)))
            await broker.shutdown()

        asyncio.run(kick_all())
    else:  # Celery's own send_task, as an application enqueues
        send = send_task_producer(spec)
        for i in range(count):
            send(f"0.{i}", time.monotonic_ns())


def bare_drain(
    architecture: str, services: Services, profile, count: int, run_index: int, work: Path, instrumented: bool = False
) -> float:
    records = work / f"bare-{architecture}-{run_index}-{instrumented}"
    records.mkdir()
    spec = WorkerSpec(
        architecture=architecture,
        database_url=services.database_url,
        broker_url=services.broker_url,
        queue=f"bare-{architecture}-{run_index}",
        workload=profile.workload,
        table_rows=profile.table_rows,
        records_dir=str(records),
        worker_processes=profile.worker_processes,
        pool_size=profile.pool_size,
        max_overflow=profile.max_overflow,
        tasks_per_process=profile.tasks_per_process,
        task_time_limit_s=profile.task_time_limit_seconds,
        prefetch_multiplier=profile.prefetch_multiplier,
        instrumented=instrumented,
    )
    # As bench's "max" step does: the queue filled first, then the workers let loose on it (here started:
    # their first tasks are cold, as they are under bench when "max" is an arm's first step).
    enqueue_all(architecture, spec, count)
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        before = statement_calls(conn)
        workers = get_architecture(architecture)().start_workers(spec, work)
        try:
            first = _when(conn, lambda calls: calls > before)
            done = _when(conn, lambda calls: calls - before >= count)
        finally:
            for worker in workers:
                worker.stop()
    # From the first task's statement to the last one's, as bench times a drain from the first task
    # started: the workers' start-up is not the drain.
    return (count - (first[1] - before)) / (done[0] - first[0])


def _when(conn: psycopg.Connection, condition, timeout_s: float = 300) -> tuple[float, int]:
    """(time, count) at the first 50 Hz poll of the statement's count that meets `condition`."""
    started = time.monotonic()
    while not condition(calls := statement_calls(conn)):
        if time.monotonic() - started > timeout_s:
            raise RuntimeError("bare drain did not finish")
        time.sleep(0.02)
    return time.monotonic(), calls


def under_bench(architecture: str, services: Services, profile_name: str, count: int, work: Path) -> float:
    results = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "BENCH_DATABASE_URL": services.database_url, "BENCH_BROKER_URL": services.broker_url}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--profile",
            profile_name,
            "--architectures",
            architecture,
            "--rates",
            "max",
            "--saturation-tasks",
            str(count),
            "--results-dir",
            str(results),
        ],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (steps,) = results.glob("*/steps.csv")
    with open(steps, newline="") as f:
        return float(next(csv.DictReader(f))["throughput_per_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", default="quick", help="profile whose worker and pool settings both sides use")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also drain bare with the workers' instrumentation on, to part the workers' share "
        "of the overhead from the load generator's and bench's own",
    )
    args = parser.parse_args()
    profile = resolve_profile(read_config_file(REPO / "bench.toml"), args.profile, {}, environ={})
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    settings = {"shared_preload_libraries": "pg_stat_statements"}
    with running_services(work, max_connections=profile.max_connections, postgres_settings=settings) as services:
        engine = admin_engine(services.database_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            make_workload(profile.workload, profile.table_rows).setup(conn)
        engine.dispose()
        split = f" {'bare+rec /s':>12}" if args.split else ""
        print(f"{'architecture':<20} {'bench /s':>10} {'bare /s':>10} {'ratio':>7}{split}   runs (bench | bare)")
        for architecture in args.architectures.split(","):
            with_bench, bare, recorded = [], [], []
            for run_index in range(args.repeat):
                with_bench.append(under_bench(architecture, services, args.profile, args.tasks, work))
                bare.append(bare_drain(architecture, services, profile, args.tasks, run_index, work))
                if args.split:
                    recorded.append(bare_drain(architecture, services, profile, args.tasks, run_index, work, True))
            b, r = statistics.median(with_bench), statistics.median(bare)
            runs = " ".join(f"{x:.0f}" for x in with_bench) + " | " + " ".join(f"{x:.0f}" for x in bare)
            extra = f" {statistics.median(recorded):>12.1f}" if args.split else ""
            print(f"{architecture:<20} {b:>10.1f} {r:>10.1f} {b / r:>7.2f}{extra}   {runs}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
