"""What the Celery-based architectures share: the app, the worker command line and the producer.

Not an architecture itself (it defines no `name`). Settings follow Celery's own advice for long or
uneven tasks with acks_late: prefetch one message per process, so a busy process does not sit on
messages another could run, and results are ignored since nothing reads them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

from bench.architectures.base import Architecture, Send, WorkerSpec
from bench.errors import BenchError
from bench.processes import ChildProcess, wait_for

TASK_NAME = "bench.task"
READY_TIMEOUT_S = 60


def make_celery_app(main: str) -> Celery:
    """The app a worker module defines; configured from the spec in the environment when there is one."""
    spec = WorkerSpec.from_env()
    app = Celery(main, broker=spec.broker_url if spec else "memory://")
    app.conf.update(
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


@worker_ready.connect
def _announce_ready(**_kwargs) -> None:
    spec = WorkerSpec.from_env()
    if spec:
        spec.ready_file.touch()


class CeleryArchitecture(Architecture):
    """Base for architectures run by a `celery worker` child process; subclasses set `pool`."""

    pool: str = "prefork"

    def concurrency(self, spec: WorkerSpec) -> int:
        return spec.worker_processes

    def start_workers(self, spec: WorkerSpec, log_dir: Path) -> list[ChildProcess]:
        argv = [sys.executable, "-m", "celery", "-A", f"{type(self).__module__}:app", "worker",
                "--pool", self.pool, "--concurrency", str(self.concurrency(spec)), "--queues", spec.queue,
                "--hostname", f"{self.name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING"]
        worker = ChildProcess(f"celery {self.name}", argv, log_path=log_dir / f"worker-{self.name}.log",
                              env=spec.to_env())
        if not wait_for(lambda: spec.ready_file.exists() or not worker.alive(), READY_TIMEOUT_S, 0.1) \
                or not worker.alive():
            worker.stop()
            raise BenchError(f"the {self.name} worker did not start; see {worker.log_path}")
        return [worker]

    @classmethod
    def make_producer(cls, spec: WorkerSpec) -> Send:
        app = Celery("bench-producer", broker=spec.broker_url)
        app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)

        def send(task_id: str, scheduled_ns: int) -> None:
            app.send_task(TASK_NAME, args=[task_id, scheduled_ns], task_id=task_id, queue=spec.queue)

        return send
