"""Does bench take from what it measures? Its saturation drain against a bare one written as a user writes it.

For each architecture that has a user-written app in benchmarks/bare_apps/ (the recipe and
prefork-sync-pool: plain Celery app modules that import nothing of bench), on the same throwaway
servers and with the profile's worker settings, in alternating order round by round:
- bench: `bench run --rates max --saturation-repeat 1` (the queue filled by its load generator while
  the workers are paused, then the drain, with task records, connect timing, connection sampler and
  process meters), reading throughput_per_s from steps.csv;
- bare: the queue filled with the app's own `send_task`, then `celery -A <app> worker --concurrency N`
  started as a team starts it, the drain timed by the database's own count of the task's statement
  (pg_stat_statements, polled at 50 Hz) from the SKIP-th task to the last (the first ones are a cold
  start, which bench's warm drain does not have).
The goal: bench / bare >= 0.95 (median of the rounds). Each side also gives how busy the machine was
over its drain (% of one core, of 200 on 2 cores): a side that leaves cores idle the other uses
waits on something the other does not. `--split` adds, each round, bench's own
workers started bare (no load generator, no sampler, no meters) with their instrumentation off and
on: user app -> bench's workers off is their settings and set-up, off -> on their instrumentation,
on -> bench the rest of bench.

    .venv/bin/python benchmarks/bare_drain.py [--tasks 2000] [--rounds 7] [--architectures a,b] [--split]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import psycopg
from celery import Celery
from sqlalchemy import text

from bench.architectures import WorkerSpec, get_architecture
from bench.architectures.celery_common import send_task_producer
from bench.engines import admin_engine, driver_url
from bench.probes.process_meter import MachineMeter
from bench.processes import ChildProcess
from bench.record.stats import Spread
from bench.services import Services, running_services
from bench.settings.config import Profile, read_config_file, resolve_profile
from bench.workload_loader import make_workload

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / "benchmarks" / "bare_apps"
USER_APPS = {"prefork-nullpool": ("recipe_app", "asyncpg"), "prefork-sync-pool": ("sync_pool_app", "psycopg")}
"""Architecture -> (the user-written app module, the driver its DATABASE_URL names)."""
STATEMENT = "SELECT bench_items.payload%"
POLL_S = 0.02
COLD_SHARE = 0.05
"""The first tasks of workers started on a full queue are a cold start, which bench's warm drain does
not have: a bare drain is timed from this share of its tasks on."""


def statement_calls(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s", (STATEMENT,)
    ).fetchone()
    return int(row[0])


Drain = tuple[float, float]
"""(tasks/s, the machine's CPU busy over the drain, % of one core)."""


def timed_drain(database_url: str, count: int, start: Callable[[], list[ChildProcess]]) -> Drain:
    """Tasks/s from the statement of the task at COLD_SHARE of `count` to the `count`-th, with the
    workers `start` returns started on a queue that holds `count` tasks."""
    skip = round(COLD_SHARE * count)
    machine = MachineMeter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = statement_calls(conn)
        workers = start()
        try:
            first = _when(conn, lambda calls: calls - before >= skip)
            busy_before = machine.cpu_seconds()
            done = _when(conn, lambda calls: calls - before >= count)
            busy_s = machine.cpu_seconds() - busy_before
        finally:
            for worker in workers:
                worker.stop(signal.SIGQUIT)
    seconds = done[0] - first[0]
    return (done[1] - first[1]) / seconds, 100 * busy_s / seconds


def _when(conn: psycopg.Connection, condition, stalled_s: float = 30) -> tuple[float, int]:
    """(time, count) at the first poll of the statement's count that meets `condition`."""
    moved, last = time.monotonic(), None
    while not condition(calls := statement_calls(conn)):
        if calls != last:
            moved, last = time.monotonic(), calls
        elif time.monotonic() - moved > stalled_s:
            raise RuntimeError(f"bare drain stalled at {calls} statements (see the worker's log)")
        time.sleep(POLL_S)
    return time.monotonic(), calls


def user_app_drain(
    architecture: str, services: Services, profile: Profile, count: int, queue: str, work: Path
) -> Drain:
    """The user-written app: its queue filled with `send_task`, then `celery -A app worker` started on it."""
    module, driver = USER_APPS[architecture]
    sender = Celery("enqueue", broker=services.broker_url)
    with sender.connection_for_write() as connection:
        for _ in range(count):
            item = random.randint(1, profile.table_rows)
            sender.send_task(f"{module}.read_item", args=[item], queue=queue, connection=connection)
    env = {
        **os.environ,
        # The URL a team writes for its driver (asyncpg spells libpq's sslmode its own way).
        "DATABASE_URL": driver_url(services.database_url, driver).render_as_string(hide_password=False),
        "CELERY_BROKER_URL": services.broker_url,
        "PYTHONPATH": str(APPS),
    }
    argv = [sys.executable, "-m", "celery", "-A", module, "worker", "--concurrency", str(profile.worker_processes)]
    argv += ["--queues", queue, "--loglevel", "WARNING"]

    def start() -> list[ChildProcess]:
        return [ChildProcess(f"celery {module}", argv, work / f"{queue}.log", env=env, cwd=str(APPS))]

    return timed_drain(services.database_url, count, start)


def bench_workers_drain(
    architecture: str, services: Services, profile: Profile, count: int, queue: str, work: Path, instrumented: bool
) -> Drain:
    """bench's own workers, started by bench's code with `instrumented` on or off, without the rest of bench."""
    records = work / queue
    records.mkdir()
    spec = WorkerSpec(
        architecture=architecture,
        database_url=services.database_url,
        broker_url=services.broker_url,
        queue=queue,
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
    send = send_task_producer(spec)
    for i in range(count):
        send(f"0.{i}", time.monotonic_ns())
    start = lambda: get_architecture(architecture)().start_workers(spec, work)  # noqa: E731
    return timed_drain(services.database_url, count, start)


def under_bench(architecture: str, services: Services, profile_name: str, count: int, work: Path) -> Drain:
    results = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "BENCH_DATABASE_URL": services.database_url, "BENCH_BROKER_URL": services.broker_url}
    argv = [sys.executable, "-m", "bench", "run", "--profile", profile_name, "--architectures", architecture]
    argv += ["--rates", "max", "--saturation-tasks", str(count), "--saturation-repeat", "1", "--probe", "off"]
    subprocess.run([*argv, "--results-dir", str(results)], env=env, cwd=REPO, check=True, capture_output=True)
    (steps,) = results.glob("*/steps.csv")
    with open(steps, newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["saturation"] == "True"]
    return float(row["throughput_per_s"]), float(row["machine_cpu_percent"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", default=",".join(USER_APPS))
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=7, help="alternated rounds (one drain of the recipe varies by up to 15 %%)"
    )
    parser.add_argument("--profile", default="quick", help="profile whose worker and pool settings both sides use")
    parser.add_argument(
        "--split", action="store_true", help="also drain bench's own workers bare, instrumented and not"
    )
    args = parser.parse_args()
    profile = resolve_profile(read_config_file(REPO / "bench.toml"), args.profile, {}, environ={})
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    try:
        measure(args, profile, work)
    except BaseException:
        print(f"the workers' logs are kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return 0


def measure(args: argparse.Namespace, profile: Profile, work: Path) -> None:
    """Every round of every architecture, printed as it ends."""
    settings = {"shared_preload_libraries": "pg_stat_statements"}
    with running_services(work, max_connections=profile.max_connections, postgres_settings=settings) as services:
        engine = admin_engine(services.database_url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            make_workload(profile.workload, profile.table_rows).setup(conn)
        engine.dispose()
        print(f"{args.tasks} tasks a drain, {args.rounds} rounds, profile {args.profile}; tasks/s, median (min-max)")
        for architecture in args.architectures.split(","):
            runs: dict[str, list[float]] = {"bench": [], "bare": [], "workers off": [], "workers on": []}
            busy: dict[str, list[float]] = {name: [] for name in runs}
            for round_index in range(args.rounds):
                queue = f"bare-{architecture}-{round_index}"
                sides = {
                    "bench": lambda: under_bench(architecture, services, args.profile, args.tasks, work),
                    "bare": lambda: user_app_drain(architecture, services, profile, args.tasks, queue, work),
                }
                if args.split:
                    for name, on in (("workers off", False), ("workers on", True)):
                        sides[name] = lambda q=f"{queue}-{on}", on=on: bench_workers_drain(
                            architecture, services, profile, args.tasks, q, work, on
                        )
                order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
                for name in order:
                    rate, machine = sides[name]()
                    runs[name].append(rate)
                    busy[name].append(machine)
                print(
                    f"  {architecture} round {round_index + 1}: "
                    + ", ".join(f"{n} {runs[n][-1]:.0f} (machine {busy[n][-1]:.0f} %)" for n in sides),
                    flush=True,
                )
            ratios = [b / r for b, r in zip(runs["bench"], runs["bare"])]
            line = f"{architecture:<18} bench {Spread.of(runs['bench'])}  bare {Spread.of(runs['bare'])}"
            line += f"  bench/bare {statistics.median(runs['bench']) / statistics.median(runs['bare']):.2f}"
            line += f" (rounds {min(ratios):.2f}-{max(ratios):.2f})"
            if args.split:
                line += f"  bench's workers off {Spread.of(runs['workers off'])}, on {Spread.of(runs['workers on'])}"
            line += f"  machine busy % bench {Spread.of(busy['bench'])}, bare {Spread.of(busy['bare'])}"
            print(line, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
