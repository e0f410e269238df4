"""gevent-pool: Celery's gevent pool with a sync engine (psycopg 3) and a QueuePool.

Each of `worker_processes` Celery workers runs up to `tasks_per_process` tasks at once as
greenlets; they share that process's QueuePool (pool_size + max_overflow connections). psycopg 3
(from 3.1.14) waits cooperatively under gevent's monkey-patching, so a greenlet waiting on
PostgreSQL lets the others run. One session per task.
"""

from __future__ import annotations

import functools

from sqlalchemy.orm import sessionmaker

from bench import engines
from bench.architectures.base import NEEDS_SYNC_BODY
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import SYNC, run_sync


class GeventPool(CeleryArchitecture):
    name = "gevent-pool"
    body = SYNC
    adoption = NEEDS_SYNC_BODY
    color = "#1f77b4"
    description = "Celery gevent pool + sync psycopg 3 engine with a QueuePool"
    pool = "gevent"
    concurrent = True
    pooled = True


app = make_celery_app(__name__)


@functools.cache
def session_maker() -> sessionmaker:
    spec, _, _ = worker_parts()
    engine = engines.sync_pooled_engine(
        spec.database_url, GeventPool.name, spec.pool_size, spec.max_overflow, spec.instrumented
    )
    return sessionmaker(engine, expire_on_commit=False)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        run_sync(session_maker(), worker_parts()[1], rng)
