"""What the Celery-based architectures share: the app, the worker command line and the producer.

Not an architecture itself (it defines no `name`). Celery's defaults apply, as in the recipe, with
the prefetch multiplier from the profile (Celery's default 4 unless set: with 1, a gevent worker
fetches too few of these short tasks to keep its greenlets busy); results are ignored since
nothing reads them. Every architecture gets the same
per-task time limit: the soft limit raises SoftTimeLimitExceeded inside the task (recorded as
such), the hard limit a little later ends a task that ignores it. Celery's gevent pool knows only
the hard limit, which it raises as gevent.Timeout.
"""

from __future__ import annotations

import functools
import random
import signal
import sys
import threading
from typing import cast
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

from bench.architectures.base import Architecture, WorkerSpec, wait_until_ready
from bench.architectures.celery_sender import make_sender
from bench.architectures.producer import CallProducer, Producer
from bench.probes.task_recorder import TaskRecorder, make_recorder
from bench.processes import ChildProcess
from bench.workload import Workload
from bench.workload_loader import make_workload

TASK_NAME = "bench.task"
HARD_LIMIT_GRACE_S = 2.0


def make_celery_app(main: str) -> Celery:
    """The app a worker module defines; configured from the spec in the environment when there is one."""
    spec = WorkerSpec.from_env()
    app = Celery(main, broker=spec.broker_url if spec else "memory://")
    app.conf.update(
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if spec:
        app.conf.update(
            worker_prefetch_multiplier=spec.prefetch_multiplier,
            task_soft_time_limit=spec.task_time_limit_s,
            task_time_limit=spec.task_time_limit_s + HARD_LIMIT_GRACE_S,
        )
    return app


@worker_ready.connect
def _announce_ready(**_kwargs) -> None:
    spec = WorkerSpec.from_env()
    if spec:
        spec.mark_ready()


_parts_lock = threading.Lock()


def worker_parts() -> tuple[WorkerSpec, Workload, TaskRecorder]:
    """Inside a worker process: the spec, the workload and the task recorder, made once (also when
    the first tasks arrive on several threads at once)."""
    with _parts_lock:
        return _make_worker_parts()


@functools.cache
def _make_worker_parts() -> tuple[WorkerSpec, Workload, TaskRecorder]:
    spec = WorkerSpec.of_this_worker()
    workload = make_workload(spec.workload, spec.table_rows, spec.workload_params, spec.service_url)
    return spec, workload, make_recorder(spec)


rng = cast(random.Random, random)
"""The module's functions are those of its hidden Random instance, so it serves as one. Key choices come from the process's `random` state, which Python reseeds in every forked child."""


class CeleryArchitecture(Architecture):
    """Base for architectures run by `celery worker` child processes; subclasses set `pool`."""

    pool: str = "prefork"

    def instances(self, spec: WorkerSpec) -> int:
        """`celery worker` processes to start: one prefork worker forks its own pool processes."""
        return 1 if self.pool == "prefork" else spec.worker_processes

    def concurrency(self, spec: WorkerSpec) -> int:
        return spec.worker_processes if self.pool == "prefork" else spec.tasks_per_process

    def start_workers(self, spec: WorkerSpec, log_dir: Path) -> list[ChildProcess]:
        workers = []
        try:
            for index in range(self.instances(spec)):
                argv = [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    f"{type(self).__module__}:app",
                    "worker",
                    "--pool",
                    self.pool,
                    "--concurrency",
                    str(self.concurrency(spec)),
                    "--queues",
                    spec.queue,
                    "--hostname",
                    f"{self.name}-{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel",
                    "WARNING",
                ]
                # Workers are stopped once their steps have drained: Celery's cold shutdown (SIGQUIT) ends
                # them at once, where a warm one (SIGTERM) took about 7 s for the gevent pool here.
                workers.append(
                    ChildProcess(
                        f"celery {self.name} {index}",
                        argv,
                        log_path=log_dir / f"worker-{self.name}-{index}.log",
                        env=spec.to_env(),
                        cpus=spec.cpus,
                        stop_signal=signal.SIGQUIT,
                    )
                )
        except BaseException:
            for worker in workers:
                worker.stop()
            raise
        wait_until_ready(workers, spec, len(workers), self.name)
        return workers

    @classmethod
    def make_producer(cls, spec: WorkerSpec) -> Producer:
        """The message `send_task` sends, built by bench (bench/architectures/celery_sender.py): a fifth
        or less of `send_task`'s CPU, which the load generator would take from the workers."""
        return make_sender(spec.broker_url, spec.queue, TASK_NAME)


def send_task_producer(spec: WorkerSpec) -> Producer:
    """Celery's own `send_task`, as an application enqueues: what bench's producer is checked against."""
    app = Celery("bench-producer", broker=spec.broker_url)
    app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)

    def send(task_id: str, scheduled_ns: int) -> None:
        app.send_task(TASK_NAME, args=[task_id, scheduled_ns], task_id=task_id, queue=spec.queue)

    return CallProducer(send)
