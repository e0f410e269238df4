"""Reads the per-task records the workers append (see probes/task_recorder.py), incrementally."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TaskRecord:
    """One executed task as its worker recorded it; times are CLOCK_MONOTONIC ns."""

    id: str
    scheduled_ns: int
    started_ns: int
    finished_ns: int
    connect_ns: list[int] = field(default_factory=list)
    """Duration of each new database connection the task opened."""
    error: str | None = None
    pid: int = 0
    cpu_ns: int | None = None
    """CPU of the worker process while it ran the task (its own, where a process runs one at a time)."""
    clock_offset_ns: int | None = None
    """How far the worker's clock ran ahead of bench's (records that came over the control channel;
    their times are already in bench's clock)."""
    clock_uncertainty_ns: int | None = None
    host: str = ""
    """The worker's host name (records that came over the control channel: workers may run on several)."""


class RecordReader:
    """Returns the records appended since the previous call, reading only whole lines."""

    def __init__(self, records_dir: Path) -> None:
        self._dir = records_dir
        self._offsets: dict[Path, int] = {}

    def close(self) -> None:
        """Nothing to close: each poll opens and closes the files it reads."""

    def poll(self) -> list[TaskRecord]:
        records: list[TaskRecord] = []
        for path in sorted(self._dir.glob("worker-*.jsonl")):
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            records.extend(TaskRecord(**json.loads(line)) for line in complete.splitlines() if line)
        return records
