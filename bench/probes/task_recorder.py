"""Worker side: one JSON line per task with its times, connect durations and error type.

Each worker process appends to its own file (named by PID, opened after the fork), so no lock is
shared between processes and a process killed mid-run loses at most the task it was running; the
threads of one process (Celery's threads pool) take turns at it.
Times are CLOCK_MONOTONIC (`bench.clock.monotonic_ns()`), which every process on the host shares.
With a control channel (`records = "control"`) the records go through it instead, with the
process's clock offset (bench/record/control.py), for workers on hosts that share no clock or files with bench.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Iterator

from bench import clock
from bench.record.control import ControlRecordSink
from bench.probes import connect_timer


class TaskRecorder:
    def __init__(self, records_dir: str | Path, enabled: bool = True, sink: ControlRecordSink | None = None) -> None:
        self._dir = Path(records_dir)
        self._sink = sink
        self._file: IO[str] | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.enabled = enabled
        """False records nothing (benchmarks/bare_drain.py measures bench's own cost that way)."""

    def record(self, task_id: str, scheduled_ns: int) -> contextlib.AbstractContextManager:
        """Wrap one task's execution; exceptions are recorded by type and re-raised."""
        return self._record(task_id, scheduled_ns) if self.enabled else contextlib.nullcontext()

    @contextlib.contextmanager
    def _record(self, task_id: str, scheduled_ns: int) -> Iterator[None]:
        started_ns = clock.monotonic_ns()
        # The process's CPU over the task (all its threads: async_to_sync runs the coroutine in one
        # of its own): the task's own CPU where a process runs one task at a time.
        cpu_started_ns = time.process_time_ns()
        error = None
        with connect_timer.collecting() as connects:
            try:
                yield
            except BaseException as exc:
                error = type(exc).__name__
                raise
            finally:
                self._write(
                    {
                        "id": task_id,
                        "scheduled_ns": scheduled_ns,
                        "started_ns": started_ns,
                        "finished_ns": clock.monotonic_ns(),
                        "connect_ns": connects,
                        "error": error,
                        "cpu_ns": time.process_time_ns() - cpu_started_ns,
                        "pid": os.getpid(),
                    }
                )

    def _write(self, record: dict) -> None:
        if self._sink is not None:
            self._sink.write(record)
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self._pid != os.getpid() or self._file is None:
                self._pid = os.getpid()
                self._file = open(self._dir / f"worker-{self._pid}.jsonl", "a", buffering=1)
            self._file.write(line)


def make_recorder(spec) -> TaskRecorder:
    """The recorder a worker process of `spec` (a WorkerSpec) uses: files, or the control channel."""
    sink = ControlRecordSink(spec.control_url, spec.queue) if spec.control_url else None
    return TaskRecorder(spec.records_dir, enabled=spec.instrumented, sink=sink)
