"""The Architecture base class and the spec a worker receives (see the package docstring)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from bench.processes import ChildProcess

SPEC_ENV = "BENCH_WORKER_SPEC"

Send = Callable[[str, int], None]


@dataclass
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

    def to_env(self) -> dict[str, str]:
        return {**os.environ, SPEC_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> "WorkerSpec | None":
        raw = os.environ.get(SPEC_ENV)
        return cls(**json.loads(raw)) if raw else None

    @property
    def ready_file(self) -> Path:
        return Path(self.records_dir) / "ready"


class Architecture:
    """Base class; see the package docstring for the contract."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def start_workers(self, spec: WorkerSpec, log_dir: Path) -> list[ChildProcess]:
        raise NotImplementedError

    @classmethod
    def make_producer(cls, spec: WorkerSpec) -> Send:
        raise NotImplementedError
