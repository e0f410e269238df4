"""prefork-loop-pool: the fix many teams adopt.

Celery prefork with one persistent event loop per worker process, made after the fork
(`worker_process_init`), and a pooled async engine (asyncpg) whose connections all live on that
loop; each task runs `loop.run_until_complete(_run())`, so connections are reused across tasks.
"""

from __future__ import annotations

import asyncio

from celery.signals import worker_process_init
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench import engines
from bench.architectures.base import ADDS_PROCESS_LOOP, WorkerSpec
from bench.architectures.celery_common import TASK_NAME, CeleryArchitecture, make_celery_app, rng, worker_parts
from bench.workload import run_async


class PreforkLoopPool(CeleryArchitecture):
    name = "prefork-loop-pool"
    adoption = ADDS_PROCESS_LOOP
    color = "#9467bd"
    description = "Celery prefork + one event loop per process (worker_process_init) + pooled asyncpg engine"
    pool = "prefork"
    pooled = True


app = make_celery_app(__name__)
_process: dict = {}
"""This pool process's loop and session maker, made after the fork."""


@worker_process_init.connect
def _make_loop_and_engine(**_kwargs) -> None:
    spec = WorkerSpec.from_env()
    if not spec or spec.architecture != PreforkLoopPool.name:
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = engines.async_pooled_engine(
        spec.database_url, PreforkLoopPool.name, spec.pool_size, spec.max_overflow, spec.instrumented
    )
    _process.update(loop=loop, session_maker=async_sessionmaker(engine, expire_on_commit=False))


async def _run() -> None:
    await run_async(_process["session_maker"], worker_parts()[1], rng)


@app.task(name=TASK_NAME, acks_late=True)
def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        return _process["loop"].run_until_complete(_run())
