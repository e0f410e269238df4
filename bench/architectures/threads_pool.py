"""threads-pool: Celery's threads pool with one sync engine (psycopg 3) per worker process.

Each of `worker_processes` Celery workers runs `tasks_per_process` threads; they share one
QueuePool of as many connections as threads, so no thread waits for a connection. What teams use
for I/O-bound tasks, and on Windows, where prefork is not available. Python threads share one
interpreter lock, so CPU work in the tasks does not run in parallel within a process. Celery's
threads pool enforces no task time limit: a hung task holds its thread.
"""

from __future__ import annotations

import functools
import threading

from sqlalchemy.orm import sessionmaker

from bench import engines
from bench.architectures.base import NEEDS_SYNC_BODY, WorkerSpec
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import SYNC, run_sync


class ThreadsPool(CeleryArchitecture):
    name = "threads-pool"
    body = SYNC
    adoption = NEEDS_SYNC_BODY
    color = "#8c564b"
    description = "Celery threads pool + one sync psycopg 3 engine per process (pool size = threads)"
    pool = "threads"
    concurrent = True
    pooled = True

    def pool_capacity(self, spec: WorkerSpec) -> int:
        return spec.worker_processes * spec.tasks_per_process


app = make_celery_app(__name__)
_engine_lock = threading.Lock()


@functools.cache
def _session_maker_once() -> sessionmaker:
    spec, _, _ = worker_parts()
    engine = engines.sync_pooled_engine(
        spec.database_url, ThreadsPool.name, spec.tasks_per_process, 0, spec.instrumented
    )
    return sessionmaker(engine, expire_on_commit=False)


def session_maker() -> sessionmaker:
    with _engine_lock:  # the first tasks arrive on several threads at once: one engine for all
        return _session_maker_once()


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        run_sync(session_maker(), worker_parts()[1], rng)
