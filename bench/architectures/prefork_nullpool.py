"""prefork-nullpool: the recipe, as published.

A Celery prefork worker; each task is a plain sync function returning `async_to_sync(_run)()`,
and `_run` opens an AsyncSession on an asyncpg engine made with `poolclass=NullPool`, so every
task opens and closes its own PostgreSQL connection, in a new event loop on a new thread.
"""

from __future__ import annotations

import functools

from asgiref.sync import async_to_sync
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench import engines
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import run_async


class PreforkNullPool(CeleryArchitecture):
    name = "prefork-nullpool"
    color = "#d62728"
    description = "Celery prefork + async_to_sync + asyncpg engine with NullPool (the recipe)"
    pool = "prefork"
    driver = "asyncpg"
    """The URL's driver; `prefork-nullpool-psycopg` runs these same workers with psycopg's."""
    settings_for_pgbouncer = False
    """The PgBouncer variants run these same workers against PgBouncer's URL, with (or, the naive
    one, without) asyncpg's settings for transaction pooling (`engines.async_nullpool_engine`)."""


# Worker side: everything below runs inside the Celery worker's pool processes.
app = make_celery_app(__name__)


@functools.cache
def celery_session_maker() -> async_sessionmaker:
    spec, _, _ = worker_parts()
    from bench.architectures import get_architecture  # the architecture these workers run as

    arch = get_architecture(spec.architecture)
    assert issubclass(arch, PreforkNullPool), f"{arch.name} runs other workers than the recipe's"
    url = spec.pgbouncer_url if arch.pgbouncer else spec.database_url
    assert url is not None, f"{arch.name}: bench gives its workers PgBouncer's URL"
    celery_engine = engines.async_nullpool_engine(
        url, arch.name, spec.instrumented, behind_pgbouncer=arch.settings_for_pgbouncer, driver=arch.driver
    )
    return async_sessionmaker(celery_engine, expire_on_commit=False)


async def _run() -> None:
    await run_async(celery_session_maker(), worker_parts()[1], rng)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        return async_to_sync(_run)()
