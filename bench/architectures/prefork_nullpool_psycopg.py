"""prefork-nullpool-psycopg: the recipe with psycopg 3's async driver instead of asyncpg.

The recipe's code unchanged except the URL's driver (`postgresql+psycopg`): Celery prefork, each
task `async_to_sync(_run)()`, an async engine with NullPool, so every task opens and closes its own
connection, through libpq instead of asyncpg's own protocol code. Its connect cost is measured, not
assumed to be asyncpg's.
"""

from __future__ import annotations

import functools

from asgiref.sync import async_to_sync
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench import engines
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import run_async


class PreforkNullPoolPsycopg(CeleryArchitecture):
    name = "prefork-nullpool-psycopg"
    description = "the recipe with psycopg 3's async driver (postgresql+psycopg) instead of asyncpg"
    pool = "prefork"


app = make_celery_app(__name__)


@functools.cache
def celery_session_maker() -> async_sessionmaker:
    spec, _, _ = worker_parts()
    celery_engine = engines.async_nullpool_engine(spec.database_url, PreforkNullPoolPsycopg.name, spec.instrumented,
                                                  driver="psycopg")
    return async_sessionmaker(celery_engine, expire_on_commit=False)


async def _run() -> None:
    await run_async(celery_session_maker(), worker_parts()[1], rng)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        return async_to_sync(_run)()
