"""The results schema: every steps.csv column once, with its unit, its type and what it means.

steps.csv's header, how a results file is read back (text, number or true/false) and
docs/results.md are made from STEPS; `python -m bench.record.schema` rewrites docs/results.md, and a test
fails when the file is stale. A column is added here, then filled in bench/record/stats.py.
"""

from __future__ import annotations

import sys
from typing import Final
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 5
"""Goes up when a column's meaning changes, one is dropped or a file is added; run.json records it,
and runs of every earlier version still load. 2: errors.csv and cpu_sets.csv. 3: loadgen_processes.csv, bursts.csv.
4: core_speed.csv. 5: `disturbed` also when another bench run was active beside the step (neighbour_runs)."""
PERCENTILE_METHOD: Final = "inverted_cdf"
"""The one definition of a percentile in bench, numpy's name for it: the nearest rank (the smallest
value with at least q % of the values at or below it). steps.csv's percentiles and `bench compare`'s
bootstrap both use it, so a p99 is the same number everywhere."""

TEXT, NUMBER, FLAG = "text", "number", "true/false"


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    kind: str
    meaning: str


def _columns(kind: str, unit: str, names: str, meaning: str) -> list[Column]:
    """Several columns that share a unit, a type and a meaning ({} stands for each name's own part)."""
    return [Column(name, unit, kind, meaning) for name in names.split()]


FOREIGN_LIMIT_PERCENT = 20.0
"""CPU (% of one core) that processes not bench's may use during a step before it is `disturbed`. Four
lone smoke runs here read 0-4.4 % in every step, two lone pgbouncer runs 0-6.4 % (the system's idle
servers); two smoke runs started together read 32-84 % in each step, and a process spinning beside a
run 95 %."""
FOREIGN_SLACK_CPU_S = 0.15
"""CPU seconds of foreign load a step may show besides: the kernel counts the machine's CPU in scheduler
ticks, so over a short window (a drain of 0.3-0.4 s) the difference of two meters missed by up to
0.145 CPU s here (35 % of a core over 0.42 s) on a machine with nothing else running."""

ROLE_MEANING = {
    "cpu_percent": "the worker processes' tree",
    "loadgen_cpu_percent": "the load generator's processes",
    "db_cpu_percent": "the managed PostgreSQL (exited backends included)",
    "broker_cpu_percent": "the managed broker (Redis, or RabbitMQ's node)",
    "bench_cpu_percent": "bench's own process",
    "pgbouncer_cpu_percent": "the managed PgBouncer",
    "proxy_cpu_percent": "the delay proxy",
    "control_cpu_percent": "the control channel's Redis",
    "service_cpu_percent": "the outside service the tasks call (send_email)",
    "machine_cpu_percent": "the whole machine (near cores x 100: the machine was the limit)",
    "foreign_cpu_percent": "processes that are not bench's: every process's user and system time less every "
    "role above (a neighbour; interrupts and stolen time not counted)",
}
COST_MEANING = {
    "worker_cpu_ms_per_task": "workers",
    "db_cpu_ms_per_task": "database",
    "broker_cpu_ms_per_task": "broker",
    "loadgen_cpu_ms_per_task": "load generator (over the tasks it sent in the window)",
    "pgbouncer_cpu_ms_per_task": "PgBouncer",
    "proxy_cpu_ms_per_task": "delay proxy",
    "control_cpu_ms_per_task": "control channel",
    "service_cpu_ms_per_task": "outside service",
    "machine_cpu_ms_per_task": "whole machine",
}


def _cpu_column(name: str) -> Column:
    return Column(name, "% of a core", NUMBER, f"CPU of {ROLE_MEANING[name]} over the measured window")


STEPS: list[Column] = [
    Column("architecture", "", TEXT, "the arm: an architecture, `@broker` when not on the run's default broker"),
    Column("broker", "", TEXT, "the broker the step ran on: redis or rabbitmq"),
    Column("workload", "", TEXT, "what each task does"),
    Column("step", "", NUMBER, "the step's number within its arm, from 1"),
    Column("repetition", "", NUMBER, "which run of the step (with `repeat` or `saturation_repeat`), from 1"),
    Column("saturation", "", FLAG, 'a `"max"` step: the queue filled with the workers paused, then drained'),
    Column("arrival", "", TEXT, "the arrival process: uniform or poisson"),
    Column("warmup_s", "s", NUMBER, "the warm-up before the step, its first arrival to its last task's end"),
    Column("warmup_end", "", TEXT, "how the warm-up ended: settled, past capacity, or limit (`warmup_max_seconds`)"),
    Column(
        "unsteady", "", FLAG, "latency fell across the measured part (a backlog drained in it): neither held nor broken"
    ),
    Column(
        "disturbed",
        "",
        FLAG,
        f"processes not bench's used more than {FOREIGN_LIMIT_PERCENT:g} % of a core (foreign_cpu_percent), "
        f"and over {FOREIGN_SLACK_CPU_S:g} CPU s in all, or another bench run was active (neighbour_runs): "
        "neither held nor broken",
    ),
    Column(
        "neighbour_runs",
        "",
        NUMBER,
        "other `bench run`s active on this machine at the step's start or end (their PIDs in bench.log)",
    ),
    Column("offered_rate_per_s", "tasks/s", NUMBER, 'the step\'s scheduled rate (empty for a `"max"` step)'),
    Column(
        "sent_rate_per_s",
        "tasks/s",
        NUMBER,
        "rate the load generator sent the measured arrivals at, first to last send",
    ),
    Column("achieved_rate_per_s", "tasks/s", NUMBER, "rate the measured tasks were processed at, first to last finish"),
    Column(
        "throughput_per_s",
        "tasks/s",
        NUMBER,
        'successful tasks finished inside the measured window, per second (a `"max"` step: tasks / drain time)',
    ),
    Column("duration_s", "s", NUMBER, 'the measured window (the drain time for a `"max"` step)'),
    *_columns(
        NUMBER,
        "tasks",
        "scheduled enqueued enqueue_failed completed failed",
        "measured tasks scheduled, enqueued, refused by the broker, completed, failed",
    ),
    Column(
        "lost",
        "tasks",
        NUMBER,
        "enqueued but never reported by a worker, once none of the step's tasks finished for `drain_timeout_seconds`",
    ),
    *_columns(
        NUMBER,
        "ms",
        "latency_p50_ms latency_p90_ms latency_p99_ms latency_max_ms",
        "scheduled arrival to task end, successful tasks (percentiles: nearest rank)",
    ),
    *_columns(NUMBER, "ms", "queue_wait_p50_ms queue_wait_p99_ms", "enqueue to task start"),
    *_columns(NUMBER, "ms", "exec_p50_ms exec_p99_ms", "task start to task end"),
    *_columns(
        NUMBER,
        "ms",
        "connect_p50_ms connect_p99_ms",
        "each new DBAPI connection: TCP, authentication and backend start (SQLAlchemy `do_connect`)",
    ),
    Column("connect_share", "fraction", NUMBER, "total connect time over total task execution time"),
    Column(
        "task_cpu_p50_ms",
        "ms of one core",
        NUMBER,
        "median CPU of the worker process while it ran a task: the "
        "task's own where a process runs one at a time (prefork); with several at once, theirs too",
    ),
    Column("connects_per_task", "", NUMBER, "client-side connect events per task (warm-up included)"),
    Column(
        "connections_mean",
        "connections",
        NUMBER,
        "the benchmark's backends in `pg_stat_activity`, sampled at 20 Hz: mean",
    ),
    Column(
        "connections_peak", "connections", NUMBER, "the same: peak (a lower bound for connections that live a few ms)"
    ),
    Column(
        "connections_left",
        "connections",
        NUMBER,
        "the arm's backends still connected after the step drained (idle pool connections, or leaks)",
    ),
    *_columns(
        NUMBER,
        "messages",
        "queue_depth_mean queue_depth_peak",
        "messages waiting in the broker for the arm's queue at 10 Hz over the measured window (what workers prefetched is not counted)",
    ),
    Column("sessions_opened", "sessions", NUMBER, "server-side count from `pg_stat_database.sessions` around the step"),
    Column("sessions_per_task", "", NUMBER, "sessions_opened per task"),
    *_columns(
        NUMBER,
        "ms",
        "send_late_p50_ms send_late_p99_ms send_late_max_ms",
        "send started minus scheduled time: how late the load generator was (schedule lag)",
    ),
    *_columns(NUMBER, "ms", "send_p50_ms send_p99_ms", "broker accepted minus send started: the send itself"),
    _cpu_column("cpu_percent"),
    Column("rss_mb", "MB", NUMBER, "peak resident memory of the worker processes' tree"),
    *[_cpu_column(name) for name in ROLE_MEANING if name != "cpu_percent"],
    *[
        Column(
            name,
            "ms of one core",
            NUMBER,
            f"CPU per task of the {who}: its CPU in the measured window over the tasks "
            "finished in it (bench/analysis/costs.py gives the marginal cost)",
        )
        for name, who in COST_MEANING.items()
    ],
    Column("connections_opened_per_s", "sessions/s", NUMBER, "server-side sessions opened per second"),
    Column(
        "clock_offset_ms",
        "ms",
        NUMBER,
        "with records over the control channel: how far the workers' clocks ran ahead of bench's (mean over the step's records)",
    ),
    Column("clock_uncertainty_ms", "ms", NUMBER, "the largest uncertainty of that estimate"),
    Column("loadgen_processes", "processes", NUMBER, "load generator processes that sent, under a Locust master"),
    Column(
        "send_late_p99_by_loadgen_ms",
        "ms",
        TEXT,
        "under a Locust master: each process's schedule lag p99 (`0=1.1;1=1.2`)",
    ),
    Column(
        "loadgen_cpu_percent_by_process",
        "% of a core",
        TEXT,
        "under a Locust master: each process's CPU (`0=1.1;master=0.4`)",
    ),
    Column(
        "loadgen_clock_offset_ms_by_process",
        "ms",
        TEXT,
        "under a Locust master: each process's clock offset to bench's, ± its uncertainty",
    ),
    Column("bursts", "", NUMBER, "a burst step (rate `burst`): its bursts (bursts.csv has each)"),
    Column("burst_drain_median_s", "s", NUMBER, "median over its bursts of first send to last task's end"),
    Column("burst_drain_max_s", "s", NUMBER, "the longest of those drains"),
    Column("burst_last_latency_max_ms", "ms", NUMBER, "the largest latency of a burst's last task"),
    Column("burst_connections_peak", "connections", NUMBER, "the most backends open while a burst drained"),
    Column("bound_role", "", TEXT, "with roles pinned (`cpus`): the role whose CPU set was at least 90 % busy"),
    Column("cpu_set_busy_percent", "%", TEXT, "with roles pinned: how busy each CPU set was (`0=45;1=98`)"),
    Column(
        "core_unit_ms",
        "ms",
        TEXT,
        "how fast each CPU set's cores ran: the CPU time of a fixed PBKDF2 (bench/probes/core_speed.py), median "
        "over the measured window, by set (`0=0.52;1=0.61`; `all=` without pinned roles; core_speed.csv has each); "
        "higher is slower",
    ),
    Column("rtt_ms", "ms", NUMBER, "the delay proxy's round trip during the step (empty: no proxy)"),
    Column("pgbouncer_version", "", TEXT, "the PgBouncer the arm's workers connected through (empty: none)"),
    *_columns(
        NUMBER,
        "statements",
        "server_statements_mean server_statements_max",
        "PgBouncer arms: prepared statements held by each of PgBouncer's server connections after the step",
    ),
    Column("server_backend_uss_mb", "MB", NUMBER, "PgBouncer arms: those backends' private memory, mean"),
    Column("first_failure_s", "s", NUMBER, "from the step's start to the first failed task (warm-up included)"),
    Column("errors", "", TEXT, "`Type:count;...` of failed, lost and unenqueued tasks, most frequent first"),
    Column(
        "interrupted_by",
        "",
        TEXT,
        "why the step ended early (a server bench started died); empty when it ran to its end",
    ),
    Column("outage_s", "s", NUMBER, "seconds of the step during which a server given by URL did not answer"),
    Column(
        "agents_vanished",
        "",
        TEXT,
        "with external workers: the `bench worker` agents whose heartbeat stopped in the step",
    ),
    Column("repeats", "", NUMBER, "runs of this step"),
    Column("throughput_mean_per_s", "tasks/s", NUMBER, "over the step's runs: throughput's mean"),
    Column("throughput_ci95_per_s", "tasks/s", NUMBER, "half-width of its 95 % confidence interval (Student's t)"),
    Column("latency_p99_mean_ms", "ms", NUMBER, "over the step's runs: p99 latency's mean"),
    Column("latency_p99_ci95_ms", "ms", NUMBER, "half-width of its 95 % confidence interval"),
    *_columns(
        NUMBER,
        "tasks/s",
        "throughput_median_per_s throughput_min_per_s throughput_max_per_s",
        "over the step's runs: throughput's median, least and most (what a `\"max\"` step is reported by)",
    ),
]

STEP_COLUMNS = [column.name for column in STEPS]
RETIRED_COLUMNS = {
    "schedule_lag_p50_ms": "send_late_p50_ms",
    "schedule_lag_p99_ms": "send_late_p99_ms",
    "schedule_lag_max_ms": "send_late_max_ms",
}
"""Columns of runs recorded by earlier versions, no longer written, and what replaced them."""
STEP_KEY = ("architecture", "step", "repetition", "rtt_ms")
"""The steps.csv columns that tie a side table's row to its step."""
SIDE_TABLES: dict[str, dict[str, Column]] = {
    "errors": {
        c.name: c
        for c in [
            Column(
                "error", "", TEXT, "the exception's type (Lost: enqueued, never reported; an enqueue failure: its type)"
            ),
            Column("count", "tasks", NUMBER, "measured tasks that ended so"),
        ]
    },
    "cpu_sets": {
        c.name: c
        for c in [
            Column("cpus", "", TEXT, "a CPU set roles were pinned to (`cpus`), as taskset lists it"),
            Column("busy_percent", "%", NUMBER, "how busy the set was over the measured window"),
        ]
    },
    "core_speed": {
        c.name: c
        for c in [
            Column("cpus", "", TEXT, "a CPU set roles were pinned to (`cpus`), or `all` when none were"),
            Column(
                "unit_ms",
                "ms",
                NUMBER,
                "the CPU time of a fixed PBKDF2 on that set (bench/probes/core_speed.py), median over the "
                "measured window: how fast its cores ran, higher is slower",
            ),
        ]
    },
    "bursts": {
        c.name: c
        for c in [
            Column("burst", "", NUMBER, "the burst's number within its step, from 0"),
            Column("tasks", "tasks", NUMBER, "its tasks, all due at the same instant"),
            Column(
                "drain_s",
                "s",
                NUMBER,
                "its first send to its last task's end: how long until the queue was empty again",
            ),
            Column("last_latency_ms", "ms", NUMBER, "its last task's end minus the burst's scheduled time"),
            Column("connections_peak", "connections", NUMBER, "the most backends open while it drained (sampled)"),
            Column("failed", "tasks", NUMBER, "its tasks that failed"),
        ]
    },
    "loadgen_processes": {
        c.name: c
        for c in [
            Column("process", "", TEXT, "a load generator process under a Locust master: its index, or `master`"),
            Column("send_late_p99_ms", "ms", NUMBER, "p99 of how late it sent its measured tasks"),
            Column(
                "cpu_percent",
                "% of a core",
                NUMBER,
                "its CPU (this host's: over the measured window; "
                "another host's: as it reported, over its whole schedule)",
            ),
            Column("clock_offset_ms", "ms", NUMBER, "its clock's offset to bench's, where estimated"),
            Column("clock_uncertainty_ms", "ms", NUMBER, "the uncertainty of that offset"),
        ]
    },
}
"""Tidy tables beside steps.csv, one fact a row, keyed by STEP_KEY: what the packed cells `errors`,
`cpu_set_busy_percent` and `*_by_process`/`*_by_loadgen_ms` say (those stay a release, for reading by eye;
nothing in bench parses them)."""
SIDE_TABLES = {
    table: {**{k: next(c for c in STEPS if c.name == k) for k in STEP_KEY}, **columns}
    for table, columns in SIDE_TABLES.items()
}
TEXT_COLUMNS = {column.name for column in STEPS if column.kind == TEXT}

OTHER_FILES = """\
Also in `results/<run-id>/`: `costs.csv` (each arm's and role's marginal CPU per task: the slope of
its CPU over the rates that kept up, its standard error and intercept, `method` slope or ratio at one
rate), `tasks.csv.gz` (one row per task, with the load generator process that sent it and, for
records over the control channel, the worker's host and the clock offset its record was corrected
by), `samples.csv` (connections over time), `queue_depth.csv` (messages waiting in the broker over
time), `run.json` (the resolved profile with passwords redacted, versions, git commit, host, the
caveats, each step's clock offsets under `clock_offsets`, `schema_version`), `advice.json` and
`bench.log`."""


def results_markdown() -> str:
    sides = "".join(
        f"\n`{table}.csv`, keyed by {', '.join(f'`{k}`' for k in STEP_KEY)}:\n\n{_table(columns.values())}\n"
        for table, columns in SIDE_TABLES.items()
    )
    return (
        f"# Results files\n\n<!-- Made by `python -m bench.record.schema` from bench/record/schema.py: edit there. -->\n\n"
        f"`results/<run-id>/steps.csv`, one row per (architecture, step, repetition); schema version "
        f"{SCHEMA_VERSION}. Percentiles are nearest-rank (numpy's `{PERCENTILE_METHOD}`) everywhere.\n\n"
        f"{_table(STEPS)}\n{sides}\n{OTHER_FILES}\n"
    )


def _table(columns) -> str:
    rows = "\n".join(f"| `{c.name}` | {c.unit or '–'} | {c.kind} | {c.meaning} |" for c in columns)
    return f"| column | unit | type | meaning |\n| --- | --- | --- | --- |\n{rows}\n"


DOC = Path(__file__).resolve().parents[2] / "docs" / "results.md"

if __name__ == "__main__":
    DOC.write_text(results_markdown())
    sys.stdout.write(f"wrote {DOC}\n")
