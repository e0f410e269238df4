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
from bench.loadgen.protocol import SPEC_ENV, LoadgenSpec
from bench.measures import Enqueue
from bench.processes import ChildProcess, stop_all
from bench.schedule import StepPlan
from bench.urls import free_loopback_port

READY_TIMEOUT_S = 60
"""How long a load generator process may take to be ready, and a master its workers to take their shares."""
RUN_OVER_EXIT = 3
"""A Locust worker's exit code when a farewell master said the run is over."""
NO_MASTER_EXIT = 4
"""A Locust worker's exit code when no master answered (Locust retries for five minutes)."""


@dataclass(frozen=True)
class MasterAddress:
    """Where the Locust master of each step listens, with load generators on other hosts: the same
    address and port for every step, since `bench loadgen --master HOST:PORT` connects there."""

    host: str
    port: int
    external: int
    """Load generators on other hosts (`bench loadgen`) each step waits for."""
    ready_timeout_s: float

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class LoadGenerator:
    """One step's load generator: one process, or a Locust master that bench talks to and Locust
    workers that send: `processes` here (each its own child of bench, so each is metered and stopped
    like any other) and, with a `master` address, `bench loadgen` workers on other hosts."""

    def __init__(
        self,
        architecture: str,
        worker_spec: WorkerSpec,
        plan: StepPlan,
        users: int,
        out_dir: Path,
        log_dir: Path,
        cpus: str | None = None,
        processes: int = 1,
        master: MasterAddress | None = None,
    ) -> None:
        self.out_path = out_dir / f"enqueues-{worker_spec.arm_label}-{plan.key}.csv"
        spec: LoadgenSpec = {
            "architecture": architecture,
            "worker_spec": dataclasses.asdict(worker_spec),
            "plan": dataclasses.asdict(plan),
            "users": users,
            "out_path": str(self.out_path),
            "role": "local",
            "processes": processes,
        }
        if processes > 1 and master is None:  # this host's processes only: any free loopback port
            master = MasterAddress("127.0.0.1", free_loopback_port(), 0, READY_TIMEOUT_S)
        if master:
            spec["role"] = "master"
            spec["master_host"], spec["master_port"] = master.host, master.port
            spec["external"], spec["ready_timeout_s"] = master.external, master.ready_timeout_s
        # The master waits up to its ready timeout for its workers, then up to READY_TIMEOUT_S for their shares.
        self.ready_timeout_s = (master.ready_timeout_s if master else 0) + READY_TIMEOUT_S
        name = f"loadgen {architecture} step {plan.index}"
        self.process = self._start(name, spec, log_dir, cpus, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        """The process bench talks to: the only one, or the master."""
        self.senders = (
            [self.process]
            if spec["role"] == "local"
            else [
                self._start(
                    f"{name} worker {index}",
                    {
                        "role": "worker",
                        "index": index,
                        "master_host": spec["master_host"],
                        "master_port": spec["master_port"],
                    },
                    log_dir,
                    cpus,
                )
                for index in range(processes)
            ]
        )
        """The processes of this host that send, in the order of their index; for one process, itself."""
        self.summary: dict = {}

    @staticmethod
    def _start(name: str, spec: LoadgenSpec, log_dir: Path, cpus: str | None, **pipes) -> ChildProcess:
        return ChildProcess(
            name,
            [sys.executable, "-m", "bench.loadgen"],
            log_path=log_dir / "loadgen.log",
            env={**os.environ, SPEC_ENV: json.dumps(spec)},
            cpus=cpus,
            **pipes,
        )

    def processes(self) -> list[ChildProcess]:
        return list(dict.fromkeys([self.process, *self.senders]))

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes()]

    def wait_ready(self) -> None:
        if self._read_line(self.ready_timeout_s) != "ready":
            raise BenchError(f"the load generator did not start; see {self.process.log_path}")

    def go(self, start_ns: int) -> None:
        """Start the schedule at `start_ns` (CLOCK_MONOTONIC)."""
        stdin = self.process.popen.stdin
        assert stdin is not None, "started with stdin=PIPE"
        stdin.write(f"{start_ns}\n".encode())
        stdin.flush()

    def finished(self) -> bool:
        """True once the generator has sent (or failed to send) every arrival."""
        if self.summary:
            return True
        line = self._read_line(0)
        if line and line.startswith("done "):
            self.summary = json.loads(line[5:])
            return True
        if not all(p.alive() for p in self.processes()):
            raise BenchError(f"the load generator exited early; see {self.process.log_path}")
        return False

    def senders_seen(self) -> dict[int, dict]:
        """Each sending process by index, as the master saw it: host, pid, remote, its clock offset to
        the master's and the uncertainty, its CPU seconds and wall seconds over its schedule; empty
        for a single process."""
        return {int(index): sender for index, sender in self.summary.get("senders", {}).items()}

    def schedule_cpu_percent(self) -> float | None:
        """A single process's CPU over its schedule, first to last send, as it measured it itself
        (percent of a core); None under a Locust master, whose processes are metered one by one."""
        cpu_s, wall_s = self.summary.get("cpu_s"), self.summary.get("wall_s")
        return 100 * cpu_s / wall_s if cpu_s is not None and wall_s else None

    def enqueues(self) -> list[Enqueue]:
        with open(self.out_path, newline="") as f:
            return [
                Enqueue(
                    r["task_id"],
                    int(r["scheduled_ns"]),
                    int(r["send_started_ns"]),
                    int(r["enqueued_ns"]),
                    r["error"],
                    int(r["loadgen"]),
                )
                for r in csv.DictReader(f)
            ]

    def halt(self) -> list[Enqueue]:
        """End the schedule early and return what was sent (nothing if the rows could not be written)."""
        self.process.stop(grace_s=10)  # a master first gathers its workers' rows
        self.stop()
        return self.enqueues() if self.out_path.exists() else []

    def stop(self) -> None:
        stop_all(self.processes(), grace_s=5)

    def wait_exited(self, timeout_s: float = 5) -> None:
        """Once finished, let its processes write their rows and exit (a few hundred ms of CPU), up to
        `timeout_s`; `stop` ends what is left."""
        for process in self.processes():
            try:
                process.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass

    def _read_line(self, timeout_s: float) -> str | None:
        stdout = self.process.popen.stdout
        assert stdout is not None, "started with stdout=PIPE"
        ready, _, _ = select.select([stdout], [], [], timeout_s)
        return stdout.readline().decode().strip() if ready else None


def farewell(master: MasterAddress, log_dir: Path) -> None:
    """Tell the load generators on other hosts that the run is over, so they exit instead of waiting
    for a next step's master."""
    spec: LoadgenSpec = {
        "role": "farewell",
        "master_host": master.host,
        "master_port": master.port,
        "external": master.external,
    }
    process = LoadGenerator._start("loadgen farewell", spec, log_dir, None)
    try:
        process.popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        process.stop(grace_s=2)
