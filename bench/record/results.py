"""The one place that writes results: `results/<run-id>/` with run.json, steps.csv, tasks.csv.gz, samples.csv.

Rows are appended as each step finishes, so an interrupted run keeps every finished step.
A run folder is created once and never reused.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from bench.errors import BenchError
from bench.schedule import BURSTS
from bench.record.schema import SCHEMA_VERSION, SIDE_TABLES, STEP_COLUMNS, STEP_KEY, TEXT, TEXT_COLUMNS
from bench.record.stats import Spread

TASK_COLUMNS = [
    "architecture",
    "step",
    "repetition",
    "task_id",
    "warmup",
    "status",
    "scheduled_s",
    "enqueued_s",
    "started_s",
    "finished_s",
    "send_late_ms",
    "send_ms",
    "queue_wait_ms",
    "exec_ms",
    "latency_ms",
    "connects",
    "connect_ms",
    "error",
    "worker_pid",
    "loadgen",
    "clock_offset_ms",
    "worker_host",
]


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

    @property
    def queue_depth_csv(self) -> Path:
        return self.path / "queue_depth.csv"

    def write_run_json(self, data: dict) -> None:
        tmp = self.path / "run.json.tmp"
        tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=2, default=str) + "\n")
        tmp.replace(self.path / "run.json")

    def write_advice(self, advice: dict) -> None:
        """advice.json, and its marginal costs as costs.csv (one row per arm and role)."""
        (self.path / "advice.json").write_text(json.dumps(advice, indent=2) + "\n")
        costs = self.path / "costs.csv"
        costs.unlink(missing_ok=True)
        if advice.get("costs"):
            _append_csv(costs, list(advice["costs"][0]), advice["costs"])

    def append_steps(self, rows: list[dict]) -> None:
        _append_csv(self.path / "steps.csv", STEP_COLUMNS, rows)

    def append_side_tables(self, tables: dict[str, list[dict]]) -> None:
        """errors.csv, cpu_sets.csv: a step's facts one a row (bench/record/schema.py, SIDE_TABLES)."""
        for table, rows in tables.items():
            _append_csv(self.path / f"{table}.csv", list(SIDE_TABLES[table]), rows)

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


@dataclass
class RunData:
    """A run folder read back: what plots, reports and comparisons are drawn from."""

    path: Path
    meta: dict
    steps: list[dict]
    """steps.csv rows, numbers as float (None where empty), booleans as bool."""
    samples: list[dict]
    sides: dict[str, list[dict]] = field(default_factory=dict)
    """The side tables' rows by table (errors, cpu_sets), typed like the steps."""
    burst_steps: list[dict] = field(default_factory=list)
    """steps.csv's burst steps (rate "burst"), kept apart from `steps`: a burst is no offered rate, and
    the analyses of rates (sustainable rate, costs, model) must not take one for it. bursts.csv has
    each burst."""

    def side(self, table: str, step_row: dict) -> list[dict]:
        """A side table's rows of one step."""
        return [r for r in self.sides.get(table, []) if all(r.get(k) == step_row.get(k) for k in STEP_KEY)]

    @property
    def run_id(self) -> str:
        return self.meta.get("run_id", self.path.name)

    @property
    def architectures(self) -> list[str]:
        return list(dict.fromkeys(r["architecture"] for r in self.steps))

    def setting(self, key: str):
        """A value of the run's profile, else its built-in default (a run recorded before the key was)."""
        from bench.settings.config import default_of

        value = self.meta.get("profile", {}).get(key)
        return default_of(key) if value is None else value

    def broker_of(self, architecture: str) -> str:
        """The broker an arm ran on (results written before the broker column: Redis, the only one then)."""
        return next((r["broker"] for r in self.steps if r["architecture"] == architecture and r.get("broker")), "redis")

    @property
    def distances(self) -> list[float | None]:
        """The delay proxy's round trips the run stepped through, in run order ([None]: no proxy)."""
        return list(dict.fromkeys(r.get("rtt_ms") for r in self.steps)) or [None]

    def at_distance(self, rtt_ms: float | None) -> "RunData":
        """The run's steps (and their connection samples) at one distance, as a run of its own."""
        steps = [r for r in self.steps if r.get("rtt_ms") == rtt_ms]
        keys = {(r["architecture"], r["step"]) for r in steps}
        samples = [s for s in self.samples if (s.get("architecture"), s.get("step")) in keys]
        sides = {table: [r for r in rows if r.get("rtt_ms") == rtt_ms] for table, rows in self.sides.items()}
        return RunData(
            self.path, self.meta, steps, samples, sides, [r for r in self.burst_steps if r.get("rtt_ms") == rtt_ms]
        )

    def task_latencies(self, step_row: dict) -> list[float]:
        """Latencies (ms) of the completed, measured tasks of one steps.csv row, from tasks.csv.gz
        (empty when the run has none)."""
        key = (step_row["architecture"], int(step_row["step"]), int(step_row.get("repetition") or 0))
        return self._task_latencies.get(key, [])

    @functools.cached_property
    def _task_latencies(self) -> dict[tuple[str, int, int], list[float]]:
        path = self.path / "tasks.csv.gz"
        by_step: dict[tuple[str, int, int], list[float]] = defaultdict(list)
        if not path.exists():
            return by_step
        with gzip.open(path, "rt", newline="") as f:
            for task in csv.DictReader(f):
                if task["status"] == "completed" and task["warmup"] == "False":
                    key = (task["architecture"], int(task["step"]), int(task["repetition"] or 0))
                    by_step[key].append(float(task["latency_ms"]))
        return by_step

    def saturation_steps(self, architecture: str) -> list[dict]:
        """The architecture's "max" steps (and their repetitions), less those a neighbour disturbed
        (processes not bench's took CPU: bench.record.schema.FOREIGN_LIMIT_PERCENT)."""
        return [
            r
            for r in self.steps
            if r["architecture"] == architecture and r.get("saturation") and not r.get("disturbed")
        ]

    def saturation(self, architecture: str, column: str = "throughput_per_s") -> Spread | None:
        """Median and range of `column` over the architecture's saturation_steps."""
        return Spread.of([r[column] for r in self.saturation_steps(architecture) if r.get(column) is not None])


def load_run(run_dir: Path) -> RunData:
    """Read results/<run-id>/; a missing or unreadable folder is a one-line error."""
    if not (run_dir / "run.json").exists():
        raise BenchError(f"{run_dir} is not a run folder (no run.json)")
    try:
        meta = json.loads((run_dir / "run.json").read_text())
        steps = [_typed(r) for r in read_steps(run_dir)] if (run_dir / "steps.csv").exists() else []
        samples = []
        if (run_dir / "samples.csv").exists():
            with open(run_dir / "samples.csv", newline="") as f:
                samples = [_typed(r) for r in csv.DictReader(f)]
        sides = {table: _read_side(run_dir, table, steps) for table in SIDE_TABLES}
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read the run in {run_dir}: {exc}") from None
    bursts = [r for r in steps if r.get("arrival") == BURSTS]
    return RunData(run_dir, meta, [r for r in steps if r.get("arrival") != BURSTS], samples, sides, bursts)


def _read_side(run_dir: Path, table: str, steps: list[dict]) -> list[dict]:
    path = run_dir / f"{table}.csv"
    if path.exists():
        with open(path, newline="") as f:
            return [_typed(r, SIDE_TEXT[table]) for r in csv.DictReader(f)]
    return _side_of_schema_1(table, steps)


SIDE_TEXT = {table: {name for name, c in columns.items() if c.kind == TEXT} for table, columns in SIDE_TABLES.items()}
_PACKED = {
    "errors": ("errors", ":", "error", "count"),
    "cpu_sets": ("cpu_set_busy_percent", "=", "cpus", "busy_percent"),
}


def _side_of_schema_1(table: str, steps: list[dict]) -> list[dict]:
    """A run recorded before the side tables (schema 1) has only the packed cells: read those, here
    and nowhere else."""
    if table not in _PACKED:  # loadgen_processes.csv came with schema 3; its packed cells are for the eye
        return []
    column, separator, name, value = _PACKED[table]
    rows = []
    for step in steps:
        for part in filter(None, (step.get(column) or "").split(";")):
            label, _, number = part.rpartition(separator)
            rows.append({**{k: step.get(k) for k in STEP_KEY}, name: label, value: float(number)})
    return rows


def _typed(row: dict, text_columns: set[str] = TEXT_COLUMNS) -> dict:
    typed = {}
    for key, value in row.items():
        if key in text_columns:
            typed[key] = value
        elif value in ("True", "False"):
            typed[key] = value == "True"
        else:
            typed[key] = float(value) if value not in ("", None) else None
    return typed


def find_run(results_root: Path, name: str) -> Path:
    """A run given as a path or as a run id under results/ (an exact id, else a unique prefix: runs
    started in the same second are X and X-2, and X names the first)."""
    if Path(name).is_dir():
        return Path(name)
    if (results_root / name).is_dir():
        return results_root / name
    matches = sorted(p for p in results_root.glob(f"{name}*") if p.is_dir())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BenchError(f"no run {name!r} (neither a folder nor a run id under {results_root})")
    raise BenchError(f"{name!r} names {len(matches)} runs under {results_root}; give more of the id")
