"""prefork-sync-pool: plain sync SQLAlchemy in Celery prefork, the advice that recurs in public threads.

Each pool process builds its own sync engine (psycopg 3) after the fork (`worker_process_init`: a
pool's connections must never cross a fork), with a QueuePool sized to the process's concurrency,
which in prefork is one task at a time: one connection, kept across tasks. The task runs the workload
through it; no event loop anywhere. The async code stays on the web side.
"""

from __future__ import annotations

from celery.signals import worker_process_init
from sqlalchemy.orm import sessionmaker

from bench import engines
from bench.architectures.base import NEEDS_SYNC_BODY, WorkerSpec
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import SYNC, run_sync

CONNECTIONS_PER_PROCESS = 1
"""A prefork process runs one task at a time, so one connection is all it can use."""


class PreforkSyncPool(CeleryArchitecture):
    name = "prefork-sync-pool"
    body = SYNC
    adoption = NEEDS_SYNC_BODY
    color = "#ff7f0e"
    description = "Celery prefork + a sync psycopg 3 engine per process (QueuePool of 1, made after the fork)"
    pool = "prefork"
    pooled = True

    def pool_capacity(self, spec: WorkerSpec) -> int:
        return spec.worker_processes * CONNECTIONS_PER_PROCESS


app = make_celery_app(__name__)
_process: dict = {}
"""This pool process's session maker, made after the fork."""


@worker_process_init.connect
def _make_engine(**_kwargs) -> None:
    spec = WorkerSpec.from_env()
    if not spec or spec.architecture != PreforkSyncPool.name:
        return
    engine = engines.sync_pooled_engine(
        spec.database_url, PreforkSyncPool.name, CONNECTIONS_PER_PROCESS, 0, spec.instrumented
    )
    _process["session_maker"] = sessionmaker(engine, expire_on_commit=False)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        run_sync(_process["session_maker"], worker_parts()[1], rng)
