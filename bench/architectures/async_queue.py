"""async-queue: the fully async baseline, taskiq with taskiq-redis's list-queue broker.

`worker_processes` taskiq worker processes, each running up to `tasks_per_process` tasks at once
on its event loop; each makes one pooled async engine (asyncpg) at start-up (WORKER_STARTUP), so
connections are reused across tasks. The producer sends taskiq's own messages, made by taskiq's
kicker and formatter, onto the broker's list. The per-task time limit is taskiq's `timeout` label, which cancels the task
(recorded as CancelledError).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from logging import getLogger
from pathlib import Path
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import async_sessionmaker
from taskiq import AsyncTaskiqDecoratedTask, TaskiqEvents, TaskiqState
from taskiq_redis import ListQueueBroker

from bench import engines
from bench.architectures.base import ANOTHER_QUEUE, Architecture, WorkerSpec, wait_until_ready
from bench.architectures.celery_common import TASK_NAME, rng, worker_parts
from bench.architectures.list_push import ListPushProducer
from bench.architectures.producer import Producer
from bench.processes import ChildProcess
from bench.workload import run_async


class AsyncQueue(Architecture):
    name = "async-queue"
    adoption = ANOTHER_QUEUE
    color = "#2ca02c"
    description = "taskiq (Redis list queue) + asyncpg engine pooled per worker process"
    pooled = True
    concurrent = True
    brokers = ("redis",)  # taskiq-redis's ListQueueBroker

    def start_workers(self, spec: WorkerSpec, log_dir: Path) -> list[ChildProcess]:
        argv = [
            sys.executable,
            "-m",
            "taskiq",
            "worker",
            f"{__name__}:broker",
            "--workers",
            str(spec.worker_processes),
            "--max-async-tasks",
            str(spec.tasks_per_process),
            "--log-level",
            "WARNING",
        ]
        worker = ChildProcess(
            f"taskiq {self.name}", argv, log_path=log_dir / f"worker-{self.name}.log", env=spec.to_env(), cpus=spec.cpus
        )
        wait_until_ready([worker], spec, spec.worker_processes, self.name)
        return [worker]

    @classmethod
    def make_producer(cls, spec: WorkerSpec) -> Producer:
        return TaskiqSender(spec)


class TaskiqSender(ListPushProducer):
    """The bytes taskiq's `kiq` would send (its kicker builds the message, its formatter serialises
    it), pushed as ListQueueBroker.kick pushes them, but by a sync client: the load generator runs on
    gevent, and driving taskiq's asyncio client from there through a bridge cost 2.3-2.5 times the load
    generator's CPU per task (1.00-1.02 ms against 0.40-0.44 at 800 tasks/s, two runs each). Replies
    are read without waiting (list_push.py)."""

    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__(spec.broker_url)
        self._broker, task = make_broker(spec)
        assert task is not None, "the producer's spec is that of an async-queue arm"
        self._task = task

    def prepare(self, task_id: str, scheduled_ns: int) -> bytes:
        message = self._broker.formatter.dumps(
            self._task.kicker().with_task_id(task_id)._prepare_message(task_id, scheduled_ns)
        )
        return self.pack_command(message.labels.get("queue_name") or self._broker.queue_name, message.message)


BRPOP_TIMEOUT_S = 1
"""How long one BRPOP waits on an empty queue before asking again: well inside redis-py's socket
timeout (5 s since redis-py 6), which would otherwise end an idle wait."""


class PollingListQueueBroker(ListQueueBroker):
    """ListQueueBroker whose wait for a message survives an idle queue. taskiq-redis's own `listen`
    sends BRPOP with no timeout; redis-py then reads its reply under the connection's 5 s socket
    timeout, so a worker process whose queue stayed empty 5 s died of TimeoutError (which that loop
    does not catch) and taskiq restarted it, ~3 s without that process, in the middle of a step once
    the warm-up's idle gap had killed it (one CI failure: 556 tasks/s achieved at 200/s offered)."""

    async def listen(self) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis_conn:
                    popped = await redis_conn.brpop([self.queue_name], timeout=BRPOP_TIMEOUT_S)
            except RedisConnectionError as exc:  # as taskiq-redis: the pool reconnects on the next try
                getLogger(__name__).warning("Redis connection error: %s", exc)
                continue
            if popped is not None:
                yield cast(bytes, popped[1])  # (key, value), bytes: the pool does not decode replies


_process: dict = {}
"""This worker process's session maker, made at start-up."""


async def run_task(task_id: str, scheduled_ns: int) -> None:
    with worker_parts()[2].record(task_id, scheduled_ns):
        await run_async(_process["session_maker"], worker_parts()[1], rng)


async def _worker_startup(state: TaskiqState) -> None:
    spec = WorkerSpec.of_this_worker()
    engine = engines.async_pooled_engine(
        spec.database_url, AsyncQueue.name, spec.pool_size, spec.max_overflow, spec.instrumented
    )
    _process["session_maker"] = async_sessionmaker(engine, expire_on_commit=False)
    spec.mark_ready()


def make_broker(spec: WorkerSpec | None) -> tuple[PollingListQueueBroker, AsyncTaskiqDecoratedTask | None]:
    """The broker and its one task, the same for workers and producer (the task's labels travel
    in each message, so both sides must declare them alike)."""
    if spec is None or spec.architecture != AsyncQueue.name:
        # Imported by bench itself, or by another architecture's worker looking up its class (whose
        # broker may not even be Redis): only the class above is needed; nothing connects.
        return PollingListQueueBroker(url="redis://127.0.0.1:6379/0"), None
    new_broker = PollingListQueueBroker(url=spec.broker_url, queue_name=spec.queue)
    new_broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, _worker_startup)
    task = new_broker.register_task(run_task, task_name=TASK_NAME, timeout=spec.task_time_limit_s)
    return new_broker, task


broker, _task = make_broker(WorkerSpec.from_env())
