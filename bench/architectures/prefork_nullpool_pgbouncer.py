"""prefork-nullpool-pgbouncer: the recipe's code unchanged, its URL pointed at PgBouncer.

What teams do first about NullPool's connect cost: keep the recipe, put PgBouncer (transaction
pooling, a managed one in front of the managed PostgreSQL) between it and the database. Each task
still opens a connection, but to PgBouncer, which hands it one of its few long-lived server
connections: client connects per task stay at 1, server sessions per task fall to about 0.
The engine carries the two settings transaction pooling needs with asyncpg (see
`engines.async_nullpool_engine`); `prefork-nullpool-pgbouncer-naive` runs without them.
"""

from __future__ import annotations

import functools

from asgiref.sync import async_to_sync
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench import engines
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import run_async


class PreforkNullPoolPgBouncer(CeleryArchitecture):
    name = "prefork-nullpool-pgbouncer"
    description = "the recipe through PgBouncer (transaction pooling), with asyncpg's settings for it"
    pool = "prefork"
    pgbouncer = True
    settings_for_pgbouncer = True


# Worker side: everything below runs inside the Celery worker's pool processes.
app = make_celery_app(__name__)


@functools.cache
def celery_session_maker() -> async_sessionmaker:
    spec, _, _ = worker_parts()
    arch = _architecture()
    celery_engine = engines.async_nullpool_engine(spec.pgbouncer_url, arch.name, spec.instrumented,
                                                  behind_pgbouncer=arch.settings_for_pgbouncer)
    return async_sessionmaker(celery_engine, expire_on_commit=False)


def _architecture() -> type[PreforkNullPoolPgBouncer]:
    """The architecture these workers run as (the naive variant reuses this module's task)."""
    from bench.architectures import get_architecture

    return get_architecture(worker_parts()[0].architecture)


async def _run() -> None:
    await run_async(celery_session_maker(), worker_parts()[1], rng)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        return async_to_sync(_run)()
