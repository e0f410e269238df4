"""The Architecture base class and the spec a worker receives (see the package docstring)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from bench.architectures.producer import Producer
from bench.clock import SKEW_ENV
from bench.errors import BenchError
from bench.processes import ChildProcess, wait_for
from bench.workload import ASYNC

SPEC_ENV = "BENCH_WORKER_SPEC"

# What moving to an architecture asks of a team's task code, which the recipe's users chose to keep
# async (shared with their FastAPI app): its adoption class.
KEEPS_ASYNC_CODE = "keeps the async code"
ADDS_PROCESS_LOOP = "keeps the async code, adds a per-process loop"
NEEDS_SYNC_BODY = "needs a sync body"
ANOTHER_QUEUE = "another task queue"
ADOPTION_CLASSES = (KEEPS_ASYNC_CODE, ADDS_PROCESS_LOOP, NEEDS_SYNC_BODY, ANOTHER_QUEUE)


@dataclass(kw_only=True)
class WorkerSpec:
    """What workers and producers of one architecture need; passed to child processes in the environment
    (never on a command line or in a file, since the URLs may hold passwords)."""

    architecture: str
    database_url: str
    broker_url: str
    queue: str
    workload: str
    table_rows: int
    records_dir: str
    worker_processes: int
    pool_size: int
    max_overflow: int
    workload_params: dict[str, Any] = field(default_factory=dict)
    tasks_per_process: int = 10
    task_time_limit_s: float = 5.0
    prefetch_multiplier: int = 4
    instrumented: bool = True
    """False only for benchmarks/bare_drain.py: no task records, no connect timing."""
    cpus: str | None = None
    """CPU list the worker processes run on (the "workers" role's set); None: anywhere."""
    pgbouncer_url: str | None = None
    """The managed PgBouncer in front of the database, when the run started one."""
    service_url: str | None = None
    """The outside service the workload calls, when the run started one."""
    control_url: str | None = None
    """The control channel the workers send their task records through (`records = "control"`);
    None: files in `records_dir`."""
    clock_skew_ns: int = 0
    """Test-only: added to the workers' clock (bench.clock), to check that its offset is found."""
    label: str = ""
    """The arm as the profile names it ("prefork-sync-pool@rabbitmq", see bench.settings.arms): what results call
    it. Empty: the architecture's name."""

    @property
    def arm_label(self) -> str:
        return self.label or self.architecture

    def to_env(self) -> dict[str, str]:
        skew = {SKEW_ENV: str(self.clock_skew_ns)} if self.clock_skew_ns else {}
        return {**os.environ, **skew, SPEC_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> "WorkerSpec | None":
        raw = os.environ.get(SPEC_ENV)
        return cls(**json.loads(raw)) if raw else None

    @classmethod
    def of_this_worker(cls) -> "WorkerSpec":
        """The spec of the worker process this runs in (bench starts every worker with it)."""
        spec = cls.from_env()
        if spec is None:
            raise RuntimeError(f"{SPEC_ENV} is not set: worker processes are started by bench, with their spec")
        return spec

    def mark_ready(self) -> None:
        """Called by each worker process once it can take tasks."""
        (Path(self.records_dir) / f"ready-{os.getpid()}").touch()

    def ready_count(self) -> int:
        return len(list(Path(self.records_dir).glob("ready-*")))


class Architecture:
    """Base class; see the package docstring for the contract."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    color: ClassVar[str | None] = None
    """Its colour in every chart of every run (bench/output/charts.py gives one without a spare)."""
    trap: ClassVar[bool] = False
    """Measured to show a failure mode (the trap the recipe warns about, a misconfiguration): never
    recommended by the advice or planned for."""
    pooled: ClassVar[bool] = False
    """True where connections are meant to be reused across tasks (a pool that outlives the task)."""
    concurrent: ClassVar[bool] = False
    """True where one worker process runs several tasks at once (`tasks_per_process` of them)."""
    pgbouncer: ClassVar[bool] = False
    """True where the workers reach the database through PgBouncer (the run then starts one for it)."""
    brokers: ClassVar[tuple[str, ...]] = ("redis", "rabbitmq")
    """The brokers it runs on."""
    pgbouncer_reset_always: ClassVar[bool] = False
    """Its PgBouncer runs `server_reset_query` (DISCARD ALL) after every transaction."""
    body: ClassVar[str] = ASYNC
    """The task body its engine runs: ASYNC (the workload's `run_async`) or SYNC (`run_sync`)."""
    adoption: ClassVar[str] = KEEPS_ASYNC_CODE
    """What moving to it asks of the task code (one of ADOPTION_CLASSES)."""
    adoption_note: ClassVar[str] = ""
    """What else it changes, in a few words ("PgBouncer in front"), where the class does not say it."""

    def pool_capacity(self, spec: WorkerSpec) -> int | None:
        """Most connections the architecture's pools can hold at once, all processes together."""
        return spec.worker_processes * (spec.pool_size + spec.max_overflow) if self.pooled else None

    def start_workers(self, spec: WorkerSpec, log_dir: Path) -> list[ChildProcess]:
        raise NotImplementedError

    @classmethod
    def make_producer(cls, spec: WorkerSpec) -> Producer:
        raise NotImplementedError


WORKERS_READY_TIMEOUT_S = 60
"""How long an architecture's worker processes may take to report ready."""

DRAINED_STOP_GRACE_S = 1.5
"""How long workers whose steps have drained (every record read) get to exit before their process
group is killed. Nothing measured is lost by then; a prefork worker exits in about 1 s, while a
gevent worker takes 3-5 s (its hub notices the signal only at its next timer) and taskiq 2-4 s."""


def wait_until_ready(workers: list[ChildProcess], spec: WorkerSpec, expected: int, name: str) -> None:
    """Return once `expected` worker processes have marked themselves ready; else stop them and fail."""

    def settled() -> bool:
        return spec.ready_count() >= expected or not all(w.alive() for w in workers)

    if not wait_for(settled, WORKERS_READY_TIMEOUT_S, 0.1) or not all(w.alive() for w in workers):
        for worker in workers:
            worker.stop()
        raise BenchError(f"the {name} workers did not start; see {workers[0].log_path}")
