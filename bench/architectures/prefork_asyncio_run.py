"""prefork-asyncio-run: the trap the recipe warns about, measured rather than assumed.

Celery prefork; each task calls `asyncio.run(_run())`, and `_run` uses one async engine (asyncpg)
per process with SQLAlchemy's default pool. Every `asyncio.run` makes a new event loop and closes
it at the end, while the pooled connections stay bound to the loop that opened them. What that
does (errors, hangs turned into time-limit failures, connections left open) is what the step rows
record.
"""

from __future__ import annotations

import asyncio
import functools

from sqlalchemy.ext.asyncio import async_sessionmaker

from bench import engines
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import run_async


class PreforkAsyncioRun(CeleryArchitecture):
    name = "prefork-asyncio-run"
    color = "#7f7f7f"
    trap = True  # measured to show a failure mode, never recommended
    description = "Celery prefork + asyncio.run() per task + asyncpg engine with the default pool (the trap)"
    pool = "prefork"


app = make_celery_app(__name__)


@functools.cache
def session_maker() -> async_sessionmaker:
    spec, _, _ = worker_parts()
    engine = engines.async_pooled_engine(
        spec.database_url, PreforkAsyncioRun.name, spec.pool_size, spec.max_overflow, spec.instrumented
    )
    return async_sessionmaker(engine, expire_on_commit=False)


async def _run() -> None:
    await run_async(session_maker(), worker_parts()[1], rng)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        return asyncio.run(_run())
