"""Statistics of one step: from arrivals, task records, samples and counters to one steps.csv row."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from bench.record.bursts import burst_columns, burst_facts
from bench.record.collect import TaskRecord
from bench.measures import Enqueue
from bench.measures import Sample
from bench.processes import roles_by_cpu_set
from bench.schedule import StepPlan
from bench.record.schema import (
    FOREIGN_LIMIT_PERCENT,
    FOREIGN_SLACK_CPU_S,
    PERCENTILE_METHOD,
    STEP_COLUMNS,
    STEP_KEY,
)

SPREAD_OF = {"throughput_per_s": "throughput", "latency_p99_ms": "latency_p99"}
"""Metrics whose spread over repetitions is recorded: column -> prefix of its _mean and _ci95 columns.
Throughput also gets _median, _min and _max: what saturation steps are reported by."""


def t95(degrees_of_freedom: float) -> float:
    """Student's t two-sided 95 % quantile (scipy)."""
    import scipy.stats  # here, not at the top: it takes half a second to import

    if degrees_of_freedom < 1:
        return math.nan
    return float(scipy.stats.t.ppf(0.975, degrees_of_freedom))


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % confidence interval (NaN half-width for one value)."""
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (b, standard error of b, a); the error is NaN below three points."""
    n, mean_x, mean_y = len(xs), statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    intercept = mean_y - slope * mean_x
    if n < 3:
        return slope, math.nan, intercept
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    return slope, math.sqrt(residual / (n - 2) / sxx), intercept


@dataclass(frozen=True)
class Spread:
    """Median and range of a few repeated measurements (saturation drain rates, say)."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread | None":
        return cls(statistics.median(values), min(values), max(values), len(values)) if values else None

    def below(self, value: float) -> bool:
        """Every repetition fell short of `value` (at least two of them: one says nothing of the spread)."""
        return self.count > 1 and self.high < value

    def overlaps(self, other: "Spread") -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.median:.0f}" if self.count < 2 else f"{self.median:.0f} ({self.low:.0f}–{self.high:.0f})"


def add_spread(rows: list[dict]) -> None:
    """Write the repetitions' mean and 95 % CI of throughput and p99 latency, and throughput's median,
    min and max, into each row of a group."""
    for column, prefix in SPREAD_OF.items():
        values = [float(r[column]) for r in rows if r[column] not in ("", None)]
        mean, ci = mean_ci95(values)
        unit = "per_s" if column.endswith("per_s") else "ms"
        for row in rows:
            row[f"{prefix}_mean_{unit}"] = _rounded(mean)
            row[f"{prefix}_ci95_{unit}"] = _rounded(ci)
    throughput = Spread.of([float(r["throughput_per_s"]) for r in rows if r["throughput_per_s"] not in ("", None)])
    for row in rows:
        row["repeats"] = len(rows)
        row["throughput_median_per_s"] = _rounded(throughput.median) if throughput else ""
        row["throughput_min_per_s"] = _rounded(throughput.low) if throughput else ""
        row["throughput_max_per_s"] = _rounded(throughput.high) if throughput else ""


CPU_COLUMNS = [c for c in STEP_COLUMNS if c.endswith("cpu_percent")]
ROLE_COLUMNS = {
    "workers": ("cpu_percent", "worker_cpu_ms_per_task"),
    "db": ("db_cpu_percent", "db_cpu_ms_per_task"),
    "broker": ("broker_cpu_percent", "broker_cpu_ms_per_task"),
    "loadgen": ("loadgen_cpu_percent", "loadgen_cpu_ms_per_task"),
    "pgbouncer": ("pgbouncer_cpu_percent", "pgbouncer_cpu_ms_per_task"),
    "proxy": ("proxy_cpu_percent", "proxy_cpu_ms_per_task"),
    "control": ("control_cpu_percent", "control_cpu_ms_per_task"),
    "service": ("service_cpu_percent", "service_cpu_ms_per_task"),
}
"""Each role's columns: its CPU over the measured window (percent of a core) and its CPU per task (ms)."""

COST_OF = {cost: cpu for cpu, cost in [*ROLE_COLUMNS.values(), ("machine_cpu_percent", "machine_cpu_ms_per_task")]}
"""What each task cost each role (and the machine): column -> the CPU column it is drawn from."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `values` by bench's one definition (PERCENTILE_METHOD); NaN when
    there are none."""
    if not len(values):
        return math.nan
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q, method=PERCENTILE_METHOD))


def format_errors(counts: Counter) -> str:
    """Compact `Type:count;...`, most frequent first."""
    return ";".join(f"{name}:{count}" for name, count in counts.most_common())


@dataclass
class StepMeasurements:
    """Everything measured during one step, before it is reduced to a row."""

    architecture: str
    workload: str
    plan: StepPlan
    start_ns: int
    enqueues: list[Enqueue]
    records: dict[str, TaskRecord]
    samples: list[Sample] = field(default_factory=list)
    queue_depths: list[int] = field(default_factory=list)
    """Messages waiting in the broker, sampled over the measured window (bench.probes.queue_depth)."""
    sessions_opened: int | None = None
    connections_left: int | None = None
    """The architecture's backends still connected once the step has drained and settled."""
    core_unit_ms: dict[str, float] = field(default_factory=dict)
    """The core-speed probe's unit, median CPU ms over the measured window, by CPU set label."""
    cpu_percent: dict[str, float] = field(default_factory=dict)
    """CPU over the measured window, 100 = one core, by column: cpu_percent (workers),
    loadgen_cpu_percent, db_cpu_percent, broker_cpu_percent, bench_cpu_percent, machine_cpu_percent."""
    rss_bytes: int = 0
    interrupted_by: str = ""
    """Why the step ended early ("postgres exited (signal 9)"); empty when it ran to its end."""
    interrupted_ns: int | None = None
    role_cpus: dict[str, str] = field(default_factory=dict)
    """The profile's CPU list by role, for `bound_role`."""
    outage_s: float = 0.0
    """Seconds during the step that a server given by URL did not answer (a restart, say)."""
    agents_vanished: list[str] = field(default_factory=list)
    """bench worker agents (workers on other hosts) whose heartbeat stopped during the step."""
    loadgen_senders: dict[int, dict] = field(default_factory=dict)
    """With a Locust master: each sending process by index, as the master saw it (host, remote, clock
    offset to bench's clock and its uncertainty, CPU and wall seconds over its schedule)."""

    drain_begin_ns: int | None = None
    """A saturation step whose workers were paused while the queue filled: when they were let go."""
    neighbour_runs: list[int] = field(default_factory=list)
    """PIDs of the other `bench run`s active on this machine at the step's start or end (bench/run/neighbours.py)."""

    @property
    def window_ns(self) -> tuple[int, int]:
        """The measured part of the step: after warm-up, up to the end of the schedule (or the
        interruption); for a saturation step, from the burst (or, where the queue was filled first,
        from when the workers were let go) to the last task's end."""
        begin = self.start_ns + self.plan.warmup_ns
        if self.plan.saturation:
            begin = self.drain_begin_ns or begin
            return begin, max((r.finished_ns for r in self.records.values()), default=begin)
        end = begin + round(self.plan.measure_s * 1e9)
        return begin, max(begin, min(end, self.interrupted_ns or end))

    def measured(self) -> list[Enqueue]:
        """The arrivals after the warm-up (every arrival of a saturation step)."""
        begin = self.start_ns + self.plan.warmup_ns if self.plan.saturation else self.window_ns[0]
        return [e for e in self.enqueues if e.scheduled_ns >= begin]


def ms(ns: float) -> float:
    return ns / 1e6


SIDE = "side tables"
"""The key of a summarized row that holds its rows of the side tables (errors.csv, cpu_sets.csv)."""


def summarize(m: StepMeasurements) -> dict:
    """One steps.csv row; latency is counted from each task's scheduled arrival time. Its SIDE entry
    holds its rows of the side tables: what the packed cells `errors` and `cpu_set_busy_percent`
    say, one fact a row (take_side_rows)."""
    measured = m.measured()
    sent = [e for e in measured if not e.error]
    done = [m.records[e.task_id] for e in sent if e.task_id in m.records]
    ok = [r for r in done if r.error is None]
    enqueued_at = {e.task_id: e.enqueued_ns for e in sent}
    connects = [c for r in done for c in r.connect_ns]
    begin, end = m.window_ns
    duration_s = (end - begin) / 1e9
    processed_all = [r for e in m.enqueues if (r := m.records.get(e.task_id))]
    failures = [r.finished_ns for r in processed_all if r.error]  # warm-up included: when it first broke
    # Tasks finished (well or not) inside the measured window, per second: what the role CPU of the
    # same window is divided by.
    processed_rate = _ratio(sum(1 for r in done if begin <= r.finished_ns <= end), duration_s)
    errors, cpu_sets = _error_counts(measured, sent, done), _cpu_sets(m.cpu_percent)
    row = {
        "architecture": m.architecture,
        "workload": m.workload,
        "step": m.plan.index,
        "repetition": m.plan.repetition,
        "saturation": m.plan.saturation,
        "arrival": m.plan.arrival,
        "offered_rate_per_s": m.plan.rate_per_s,
        "sent_rate_per_s": _sent_rate(measured, m.plan.saturation),
        "achieved_rate_per_s": len(done) / duration_s if m.plan.saturation and duration_s else _achieved_rate(done),
        "throughput_per_s": _ratio(sum(1 for r in ok if begin <= r.finished_ns <= end), duration_s),
        "unsteady": not m.plan.saturation and not m.plan.bursts and unsteady(ok),
        "duration_s": duration_s,
        "scheduled": len(measured),
        "enqueued": len(sent),
        "enqueue_failed": len(measured) - len(sent),
        "completed": len(ok),
        "failed": len(done) - len(ok),
        "lost": len(sent) - len(done),
        **_percentiles("latency", [ms(r.finished_ns - r.scheduled_ns) for r in ok], (50, 90, 99, 100)),
        **_percentiles("queue_wait", [ms(r.started_ns - enqueued_at[r.id]) for r in done], (50, 99)),
        **_percentiles("exec", [ms(r.finished_ns - r.started_ns) for r in done], (50, 99)),
        **_percentiles("connect", [ms(c) for c in connects], (50, 99)),
        "task_cpu_p50_ms": percentile([ms(r.cpu_ns) for r in done if r.cpu_ns is not None], 50),
        "connect_share": _ratio(sum(connects), sum(r.finished_ns - r.started_ns for r in done)),
        "connects_per_task": _ratio(sum(len(r.connect_ns) for r in processed_all), len(processed_all)),
        "connections_mean": _mean([s.connections for s in m.samples]),
        "connections_peak": max((s.connections for s in m.samples), default=0),
        "connections_left": m.connections_left,
        "queue_depth_mean": _mean(m.queue_depths),
        "queue_depth_peak": max(m.queue_depths, default=None),
        "sessions_opened": m.sessions_opened,
        "sessions_per_task": _ratio(m.sessions_opened, len(processed_all)),
        **_percentiles("send_late", [ms(e.send_started_ns - e.scheduled_ns) for e in measured], (50, 99, 100)),
        **_percentiles("send", [ms(e.enqueued_ns - e.send_started_ns) for e in sent], (50, 99)),
        **{column: m.cpu_percent.get(column, math.nan) for column in CPU_COLUMNS},
        "foreign_cpu_percent": (foreign := foreign_cpu_percent(m.cpu_percent)),
        "disturbed": disturbed(foreign, duration_s, len(m.neighbour_runs)),
        "neighbour_runs": len(m.neighbour_runs),
        **_costs_per_task(m.cpu_percent, processed_rate),
        "loadgen_cpu_ms_per_task": _loadgen_cost(m, duration_s),
        "connections_opened_per_s": _ratio(m.sessions_opened, len(processed_all)) * processed_rate
        if m.sessions_opened is not None
        else math.nan,
        "bound_role": bound_role(m.cpu_percent, m.role_cpus),
        "cpu_set_busy_percent": ";".join(f"{cpus}={busy:.0f}" for cpus, busy in cpu_sets.items()),
        "core_unit_ms": ";".join(f"{cpus}={ms:g}" for cpus, ms in m.core_unit_ms.items()),
        "rss_mb": m.rss_bytes / 2**20,
        "first_failure_s": (min(failures) - m.start_ns) / 1e9 if failures else None,
        "errors": format_errors(errors),
        "interrupted_by": m.interrupted_by,
        "outage_s": m.outage_s,
        **_packed_loadgen_columns(loadgen_facts := _loadgen_process_facts(m, measured)),
        **burst_columns(bursts := _bursts(m, measured)),
        **_clock_columns(done),
        "agents_vanished": ";".join(m.agents_vanished),
    }
    return {
        **{k: _rounded(v) for k, v in row.items()},
        SIDE: _side_facts(errors, cpu_sets, m.core_unit_ms, loadgen_facts, bursts),
    }


def _bursts(m: StepMeasurements, measured: list[Enqueue]) -> list[dict]:
    """Each burst's figures, for a burst step (none for others)."""
    return burst_facts(m.start_ns, m.plan.burst_period_s, measured, m.records, m.samples) if m.plan.bursts else []


def _loadgen_cost(m: StepMeasurements, duration_s: float) -> float:
    """The load generator's work is sending: its CPU per task sent in the window, which is the tasks
    finished in it only while the workers keep up (behind, they would make sending look dear)."""
    begin, end = m.window_ns
    sent_rate = _ratio(sum(1 for e in m.enqueues if begin <= e.send_started_ns <= end), duration_s)
    return _ratio(10 * m.cpu_percent.get("loadgen_cpu_percent", math.nan), sent_rate)


def foreign_cpu_percent(cpu_percent: dict[str, float]) -> float:
    """CPU of processes that are not bench's over the window: what every process on the machine used
    less what bench's own process tree and the servers it started used (the roles and whatever else
    bench runs, a load generator started ahead for the next step, say); NaN where either was not
    metered. Meters read a few ms apart can put it a little below zero: that is none."""
    difference = cpu_percent.get("processes_cpu_percent", math.nan) - cpu_percent.get(
        "bench_tree_cpu_percent", math.nan
    )
    return math.nan if math.isnan(difference) else max(0.0, difference)


def disturbed(foreign_percent: float, duration_s: float, neighbour_runs: int) -> bool:
    """Whether processes not bench's took more than FOREIGN_LIMIT_PERCENT of a core over the window, by
    more than the meters' slack (FOREIGN_SLACK_CPU_S, which only a short window notices), or another
    `bench run` was active beside the step: a whole second benchmark starts servers and workers and
    drains at saturation in bursts, which a light step of its own can average below the limit (13 % of
    a core, two smoke runs started together here, while the other run's steps read 31-43 %)."""
    foreign_s = foreign_percent / 100 * duration_s
    return neighbour_runs > 0 or foreign_s > FOREIGN_LIMIT_PERCENT / 100 * duration_s + FOREIGN_SLACK_CPU_S


def _cpu_sets(cpu_percent: dict[str, float]) -> dict[str, float]:
    """How busy each CPU set the roles were pinned to was, by its CPU list."""
    return {
        key.removeprefix("cpuset "): value
        for key, value in cpu_percent.items()
        if key.startswith("cpuset ") and not math.isnan(value)
    }


def _side_facts(
    errors: Counter,
    cpu_sets: dict[str, float],
    core_units: dict[str, float],
    loadgen_facts: list[dict],
    bursts: list[dict],
) -> dict[str, list[dict]]:
    return {
        "errors": [{"error": name, "count": count} for name, count in errors.most_common()],
        "cpu_sets": [{"cpus": cpus, "busy_percent": round(busy, 4)} for cpus, busy in cpu_sets.items()],
        "core_speed": [{"cpus": cpus, "unit_ms": ms} for cpus, ms in core_units.items()],
        "loadgen_processes": loadgen_facts,
        "bursts": bursts,
    }


def take_side_rows(row: dict) -> dict[str, list[dict]]:
    """Remove a finished row's side-table rows from it, each tied to the row by SIDE_KEY."""
    key = {k: row.get(k, "") for k in STEP_KEY}
    return {table: [{**key, **fact} for fact in facts] for table, facts in row.pop(SIDE, {}).items()}


UNSTEADY_FACTOR = 2.0
"""A step whose first tenth (by arrival) took this many times the last tenth's median latency drained a
backlog while measured: it started unsteady."""


def unsteady(completed: list[TaskRecord]) -> bool:
    """A step's completed measured tasks: True when their latency fell across the step, the first
    tenth's (by arrival) median over UNSTEADY_FACTOR times the last tenth's. A step past capacity has
    its latency rise instead, and stays steady (it broke)."""
    latencies = [r.finished_ns - r.scheduled_ns for r in sorted(completed, key=lambda r: r.scheduled_ns)]
    tenth = len(latencies) // 10
    if tenth < 2:
        return False
    return statistics.median(latencies[:tenth]) > UNSTEADY_FACTOR * statistics.median(latencies[-tenth:])


def _clock_columns(done: list[TaskRecord]) -> dict:
    """The workers' clock offset to bench's (mean over the step's records) and the largest uncertainty
    of it, for records that came over the control channel; empty for files (one host, one clock)."""
    offsets = [r.clock_offset_ns for r in done if r.clock_offset_ns is not None]
    uncertainties = [r.clock_uncertainty_ns for r in done if r.clock_uncertainty_ns is not None]
    if not offsets:
        return {"clock_offset_ms": None, "clock_uncertainty_ms": None}
    return {
        "clock_offset_ms": ms(sum(offsets) / len(offsets)),
        "clock_uncertainty_ms": ms(max(uncertainties)) if uncertainties else None,
    }


LOADGEN_PROCESS_KEY = "loadgen process "
"""Prefix of the `cpu_percent` keys of each load generator process ("loadgen process 0", "... master")."""


def _loadgen_process_facts(m: StepMeasurements, measured: list[Enqueue]) -> list[dict]:
    """With several load generator processes: one fact each (its index, or "master"), with its schedule
    lag p99, CPU and clock offset to bench's; none with one process (the step's own columns say it all).
    CPU is metered here for this host's processes over the measured window; a process on another host
    reports its own, over its whole schedule."""
    cpu = {
        key.removeprefix(LOADGEN_PROCESS_KEY): value
        for key, value in m.cpu_percent.items()
        if key.startswith(LOADGEN_PROCESS_KEY)
    }
    for index, sender in m.loadgen_senders.items():
        if sender.get("remote"):
            cpu[str(index)] = _ratio(100 * sender.get("cpu_s", math.nan), sender.get("wall_s", math.nan))
    if not cpu:
        return []
    late: dict[str, list[float]] = defaultdict(list)
    for e in measured:
        late[str(e.loadgen)].append(ms(e.send_started_ns - e.scheduled_ns))
    senders = {str(index): s for index, s in m.loadgen_senders.items()}
    names = sorted(set(cpu) | set(late), key=lambda name: (name == "master", int(name) if name.isdigit() else 0))
    return [
        {
            "process": name,
            "send_late_p99_ms": round(percentile(late[name], 99), 4) if late.get(name) else None,
            "cpu_percent": None if math.isnan(cpu.get(name, math.nan)) else round(cpu[name], 4),
            "clock_offset_ms": ms(senders[name]["clock_offset_ns"])
            if "clock_offset_ns" in senders.get(name, {})
            else None,
            "clock_uncertainty_ms": ms(senders[name]["clock_uncertainty_ns"])
            if "clock_uncertainty_ns" in senders.get(name, {})
            else None,
        }
        for name in names
    ]


def _packed_loadgen_columns(facts: list[dict]) -> dict:
    """The per-process facts packed "index=value;..." into steps.csv cells, kept one release for reading
    by eye; loadgen_processes.csv is what to read by program."""

    def pack(fmt, *keys):
        return ";".join(
            f"{f['process']}={fmt.format(*(f[k] for k in keys))}" for f in facts if all(f[k] is not None for k in keys)
        )

    return {
        "loadgen_processes": max(1, len([f for f in facts if f["process"] != "master"])),
        "send_late_p99_by_loadgen_ms": pack("{:.2f}", "send_late_p99_ms"),
        "loadgen_cpu_percent_by_process": pack("{:.1f}", "cpu_percent"),
        "loadgen_clock_offset_ms_by_process": pack("{:.4f}±{:.4f}", "clock_offset_ms", "clock_uncertainty_ms"),
    }


BOUND_UTILIZATION = 0.9
"""A CPU set used at or above this share of its cores over the measured window ran out."""


def cpu_set_key(cpus: frozenset[int]) -> str:
    """The `cpu_percent` key of a CPU set's own busy time ("cpuset 0,1")."""
    return "cpuset " + ",".join(map(str, sorted(cpus)))


def bound_role(cpu_percent: dict[str, float], role_cpus: dict[str, str]) -> str:
    """The role whose CPU set ran out, the busiest set first; "" when none did or no role is pinned.
    A set's fill is its cores' busy time where measured (`cpu_set_key`), else its roles' CPU added
    up; the role that used most of it is named."""
    named, highest = "", BOUND_UTILIZATION
    for cpus, roles in roles_by_cpu_set(role_cpus).items():
        used = {role: cpu_percent.get(ROLE_COLUMNS[role][0], math.nan) for role in roles}
        used = {role: value for role, value in used.items() if not math.isnan(value)}
        busy = cpu_percent.get(cpu_set_key(cpus), math.nan)
        utilization = (sum(used.values()) if math.isnan(busy) else busy) / (100 * len(cpus))
        if used and utilization >= highest:
            named, highest = max(used, key=lambda role: used[role]), utilization
    return named


def _costs_per_task(cpu_percent: dict[str, float], processed_per_s: float) -> dict[str, float]:
    """CPU ms per task of each role: percent of a core / 100 * 1000 ms / (tasks/s)."""
    return {cost: _ratio(10 * cpu_percent.get(column, math.nan), processed_per_s) for cost, column in COST_OF.items()}


def _rate_over(times_ns: list[int]) -> float:
    """(n - 1) gaps between the first and the last of `times_ns`, per second; NaN without a span."""
    span_ns = max(times_ns) - min(times_ns) if len(times_ns) >= 2 else 0
    return (len(times_ns) - 1) / (span_ns / 1e9) if span_ns > 0 else math.nan


def _achieved_rate(done: list[TaskRecord]) -> float:
    """Rate at which the step's measured tasks were processed, between the first and the last to
    finish. Equal to the offered rate while the workers keep up; once a backlog forms the finishes
    spread out and it falls to what the workers can drain."""
    return _rate_over([r.finished_ns for r in done])


def _sent_rate(measured: list[Enqueue], saturation: bool) -> float:
    """Rate at which the load generator sent the step's measured arrivals, between the first and the
    last send to start. Equal to the offered rate while the generator keeps up, whatever the workers
    do; nothing for a saturation step, whose arrivals are all due at once."""
    return math.nan if saturation else _rate_over([e.send_started_ns for e in measured])


def _error_counts(measured: list[Enqueue], sent: list[Enqueue], done: list[TaskRecord]) -> Counter:
    counts = Counter(f"enqueue.{e.error}" for e in measured if e.error)
    counts.update(r.error for r in done if r.error)
    lost = len(sent) - len(done)
    if lost:
        counts["Lost"] += lost
    return counts


def _percentiles(prefix: str, values: list[float], qs: tuple[int, ...]) -> dict[str, float]:
    names = {100: "max"}
    return {f"{prefix}_{names.get(q, f'p{q}')}_ms": percentile(values, q) for q in qs}


def _ratio(numerator: float | None, denominator: float) -> float:
    if numerator is None or not denominator:
        return math.nan
    return numerator / denominator


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _rounded(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 4)
    return "" if value is None else value


def task_rows(m: StepMeasurements, run_start_ns: int) -> list[dict]:
    """tasks.csv.gz rows: one per arrival of the step, times in s since the run's start."""
    begin, _ = m.window_ns

    def since_start(ns: int | None) -> str:
        return "" if not ns else f"{(ns - run_start_ns) / 1e9:.6f}"

    def duration(a: int | None, b: int | None) -> str:
        return "" if not (a and b) else f"{ms(b - a):.3f}"

    rows = []
    for e in m.enqueues:
        r = m.records.get(e.task_id)
        status = "enqueue_failed" if e.error else "lost" if r is None else "failed" if r.error else "completed"
        rows.append(
            {
                "architecture": m.architecture,
                "step": m.plan.index,
                "repetition": m.plan.repetition,
                "task_id": e.task_id,
                "warmup": e.scheduled_ns < begin,
                "status": status,
                "scheduled_s": since_start(e.scheduled_ns),
                "enqueued_s": since_start(e.enqueued_ns),
                "started_s": since_start(r.started_ns if r else None),
                "finished_s": since_start(r.finished_ns if r else None),
                "send_late_ms": duration(e.scheduled_ns, e.send_started_ns),
                "send_ms": duration(e.send_started_ns, e.enqueued_ns),
                "queue_wait_ms": duration(e.enqueued_ns, r.started_ns if r else None),
                "exec_ms": duration(r.started_ns if r else None, r.finished_ns if r else None),
                "latency_ms": duration(e.scheduled_ns, r.finished_ns if r else None),
                "connects": len(r.connect_ns) if r else "",
                "connect_ms": f"{ms(sum(r.connect_ns)):.3f}" if r else "",
                "error": e.error or (r.error if r and r.error else ""),
                "worker_pid": r.pid if r else "",
                "loadgen": e.loadgen,
                "clock_offset_ms": "" if r is None or r.clock_offset_ns is None else f"{ms(r.clock_offset_ns):.4f}",
                "worker_host": r.host if r else "",
            }
        )
    return rows
