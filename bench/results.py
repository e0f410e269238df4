"""The one place that writes results: `results/<run-id>/` with run.json, steps.csv, tasks.csv.gz, samples.csv.

Rows are appended as each step finishes, so an interrupted run keeps every finished step.
A run folder is created once and never reused.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Iterable

from bench.stats import STEP_COLUMNS

SCHEMA_VERSION = 1
TASK_COLUMNS = ["architecture", "step", "task_id", "warmup", "status", "scheduled_s", "enqueued_s",
                "started_s", "finished_s", "schedule_lag_ms", "queue_wait_ms", "exec_ms", "latency_ms",
                "connects", "connect_ms", "error", "worker_pid"]


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name

    @classmethod
    def create(cls, results_root: Path, profile: str) -> "RunFolder":
        results_root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            path = results_root / f"{stamp}-{profile}{suffix}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            (path / "logs").mkdir()
            return cls(path)
        raise RuntimeError("could not create a unique run folder")

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def samples_csv(self) -> Path:
        return self.path / "samples.csv"

    def write_run_json(self, data: dict) -> None:
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=2, default=str) + "\n")
        tmp.replace(self.path / "run.json")

    def append_step(self, row: dict) -> None:
        _append_csv(self.path / "steps.csv", STEP_COLUMNS, [row])

    def append_tasks(self, rows: Iterable[dict]) -> None:
        # gzip members concatenate: each step adds one, and readers see one stream.
        path = self.path / "tasks.csv.gz"
        new = not path.exists()
        with gzip.open(path, "at", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=TASK_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerows(rows)


def _append_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_steps(run_dir: Path) -> list[dict]:
    with open(run_dir / "steps.csv", newline="") as f:
        return list(csv.DictReader(f))
