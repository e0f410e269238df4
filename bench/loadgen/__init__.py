"""Parent side of the load generator: start it for one step, give it the start time, collect what it sent.

The generator itself (`python -m bench.loadgen`) is a separate process so that Locust's gevent
monkey-patching touches nothing in bench and its CPU use is measured apart from the workers'.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.architectures.base import WorkerSpec
from bench.errors import BenchError
from bench.processes import ChildProcess
from bench.schedule import StepPlan

SPEC_ENV = "BENCH_LOADGEN_SPEC"
READY_TIMEOUT_S = 60


@dataclass
class Enqueue:
    """One arrival as the generator saw it."""

    task_id: str
    scheduled_ns: int
    send_started_ns: int
    """When the generator began the send; minus `scheduled_ns`, how late it was (send_late)."""
    enqueued_ns: int
    """When the broker accepted it (0 when enqueueing failed); minus `send_started_ns`, the send's cost."""
    error: str


class LoadGenerator:
    def __init__(self, architecture: str, worker_spec: WorkerSpec, plan: StepPlan, users: int,
                 out_dir: Path, log_dir: Path, cpus: str | None = None) -> None:
        self.out_path = out_dir / f"enqueues-{worker_spec.arm_label}-{plan.key}.csv"
        spec = {"architecture": architecture, "worker_spec": dataclasses.asdict(worker_spec),
                "plan": dataclasses.asdict(plan), "users": users, "out_path": str(self.out_path)}
        env = {**os.environ, SPEC_ENV: json.dumps(spec)}
        self.process = ChildProcess(f"loadgen {architecture} step {plan.index}",
                                    [sys.executable, "-m", "bench.loadgen"],
                                    log_path=log_dir / "loadgen.log", env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, cpus=cpus)
        self.summary: dict = {}

    def wait_ready(self) -> None:
        if self._read_line(READY_TIMEOUT_S) != "ready":
            raise BenchError(f"the load generator did not start; see {self.process.log_path}")

    def go(self, start_ns: int) -> None:
        """Start the schedule at `start_ns` (CLOCK_MONOTONIC)."""
        self.process.popen.stdin.write(f"{start_ns}\n".encode())
        self.process.popen.stdin.flush()

    def finished(self) -> bool:
        """True once the generator has sent (or failed to send) every arrival."""
        if self.summary:
            return True
        line = self._read_line(0)
        if line and line.startswith("done "):
            self.summary = json.loads(line[5:])
            return True
        if not self.process.alive():
            raise BenchError(f"the load generator exited early; see {self.process.log_path}")
        return False

    def enqueues(self) -> list[Enqueue]:
        with open(self.out_path, newline="") as f:
            return [Enqueue(r["task_id"], int(r["scheduled_ns"]), int(r["send_started_ns"]), int(r["enqueued_ns"]),
                            r["error"])
                    for r in csv.DictReader(f)]

    def halt(self) -> list[Enqueue]:
        """End the schedule early and return what was sent (nothing if the rows could not be written)."""
        self.process.stop(grace_s=5)
        return self.enqueues() if self.out_path.exists() else []

    def stop(self) -> None:
        self.process.stop(grace_s=5)

    def _read_line(self, timeout_s: float) -> str | None:
        stdout = self.process.popen.stdout
        ready, _, _ = select.select([stdout], [], [], timeout_s)
        return stdout.readline().decode().strip() if ready else None
