"""One step: start the load generator, run its schedule, wait for the workers to drain it, measure."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from bench.architectures.base import WorkerSpec
from bench.record.collect import RecordReader, TaskRecord
from bench.engines import application_name
from bench.loadgen import LoadGenerator, MasterAddress
from bench.probes.connection_sampler import ConnectionSampler
from bench.probes.core_speed import CoreSpeedProbe
from bench.probes.process_meter import CpuMeter, CpuSetMeter, ProcessMeter, fixed_pids
from bench.probes.queue_depth import QueueDepthProbe
from bench.processes import ChildProcess, roles_by_cpu_set
from bench.probes.server_stats import ServerStats
from bench.run.neighbours import other_bench_runs
from bench.schedule import StepPlan, step_key
from bench.record.stats import LOADGEN_PROCESS_KEY, StepMeasurements, cpu_set_key

log = logging.getLogger(__name__)

START_DELAY_S = 0.3
"""Gap between telling the generator to go and the first arrival, so its users are spawned in time."""
POLL_S = 0.2
RSS_EVERY_S = 1.0
"""Walking the worker process trees costs CPU that the workers then lack on a small machine:
memory is sampled once a second, CPU only at the window's edges."""
SETTLE_S = 1.2
"""Wait after the last task before reading pg_stat_database: backends publish their session counts
when they exit or within about a second of going idle."""
SETTLED_QUIET_S = 0.4
"""A step whose every task has a record settles sooner: once the server's session count has not moved
for this long (a connection per task publishes its session as its backend exits, a few ms after the
task; a pool opens none in the step)."""
INTERRUPTED_GRACE_S = 2.0
"""After a server died: time for the workers to record the tasks that fail because of it."""


@dataclass(kw_only=True)
class StepContext:
    """What every step of one architecture shares."""

    worker_spec: WorkerSpec
    loadgen_users: int
    drain_timeout_s: float
    work_dir: Path
    log_dir: Path
    sampler: ConnectionSampler
    core_speed: CoreSpeedProbe | None
    """Each CPU set's speed, sampled through the run (bench/probes/core_speed.py)."""
    server_stats: ServerStats
    workers: ProcessMeter | None
    """The worker processes' meter; None for workers on other hosts."""
    other_meters: Mapping[str, CpuMeter]
    """CPU of everything else sharing the machine, by role: "db", "broker", "bench" (the load
    generator's is added per step); each becomes a `<role>_cpu_percent` column."""
    reader: RecordReader
    server_exited: Callable[[], str | None]
    """Why a server bench started is gone, or None; checked at every poll."""
    outage_s: Callable[[int, int], float]
    """Seconds, between two CLOCK_MONOTONIC times, that servers given by URL did not answer."""
    role_cpus: dict[str, str] = field(default_factory=dict)
    """The profile's `cpus`: CPU list by role."""
    rtt_ms: float | None = None
    """The delay proxy's round trip in force (None: no proxy)."""
    pgbouncer_version: str | None = None
    """The version of the PgBouncer the workers connect through (None: none)."""
    database_url: str = ""
    """The server itself, not through the proxy or PgBouncer: for bench's own counts."""
    queue_probe: QueueDepthProbe | None = None
    """Messages waiting in the broker for this architecture's queue."""
    loadgen_processes: int = 1
    """Load generator processes that send (Locust workers under a master when more than one)."""
    agents_vanished: Callable[[], list[str]] | None = None
    """With workers on other hosts: the bench worker agents whose heartbeat stopped since last asked."""
    loadgen_master: MasterAddress | None = None
    """With load generators on other hosts: where each step's Locust master listens for them."""
    warm_processes: dict = field(default_factory=dict)
    """The worker processes that have finished a task since they started, (host, pid) -> first seen (ns)."""
    pausable: list[ChildProcess] = field(default_factory=list)
    """The worker processes bench started on this host: a saturation step pauses them while the load
    generator fills the queue, so the drain it times runs without a sender beside it. Empty for
    workers on other hosts, which drain while the queue fills."""


class CpuWindow:
    """CPU use of a process set over the measured window, read at the first polls past its edges;
    a window without a known end (a saturation step's) is closed when the step has drained."""

    def __init__(self, meter: ProcessMeter, begin_ns: int, end_ns: int | None) -> None:
        self.meter, self.begin_ns, self.end_ns = meter, begin_ns, end_ns
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None

    def observe(self, now_ns: int) -> None:
        if self._last is not None or now_ns < self.begin_ns:
            return
        if self._first is None:
            self._first = (now_ns, self.meter.cpu_seconds())
        elif self.end_ns is not None and now_ns >= self.end_ns:
            self._last = (now_ns, self.meter.cpu_seconds())

    def close(self, now_ns: int) -> None:
        if self._first is not None and self._last is None:
            self._last = (now_ns, self.meter.cpu_seconds())

    def percent(self) -> float:
        if not (self._first and self._last) or self._last[0] <= self._first[0]:
            return math.nan
        return 100 * (self._last[1] - self._first[1]) / ((self._last[0] - self._first[0]) / 1e9)


def start_loadgen(ctx: StepContext, plan: StepPlan) -> LoadGenerator:
    """A load generator for `plan` (a step or its warm-up), as the context says it runs."""
    return LoadGenerator(
        ctx.worker_spec.arm_label,
        ctx.worker_spec,
        plan,
        ctx.loadgen_users,
        ctx.work_dir,
        ctx.log_dir,
        ctx.role_cpus.get("loadgen"),
        ctx.loadgen_processes,
        ctx.loadgen_master,
    )


def run_step(
    ctx: StepContext,
    workload: str,
    plan: StepPlan,
    progress: Callable[[int, int], None],
    loadgen: LoadGenerator | None = None,
    on_drained: Callable[[], None] | None = None,
) -> StepMeasurements:
    """The step, with `loadgen` if one was started for it already (stopped at the end all the same);
    `on_drained` is called when its tasks are done, before it settles."""
    architecture = ctx.worker_spec.arm_label
    loadgen = loadgen or start_loadgen(ctx, plan)
    fill_first = plan.saturation and bool(ctx.pausable)
    log.info(
        f"started loadgen pid={loadgen.process.pid} for {architecture} step {plan.index}"
        + (f" (workers pids={[p.pid for p in loadgen.senders]})" if loadgen.senders != [loadgen.process] else "")
    )
    try:
        loadgen.wait_ready()
        # Looked for at the step's edges, outside its window (a few ms of CPU each).
        neighbours = set(other_bench_runs())
        sessions_before = ctx.server_stats.sessions_total()
        start_ns = time.monotonic_ns() + round(START_DELAY_S * 1e9)
        if fill_first:
            for worker in ctx.pausable:
                worker.pause()
            log.info(f"{architecture} step {plan.key}: workers paused while the queue fills")
        loadgen.go(start_ns)
        ctx.sampler.label = (architecture, plan.index)
        if ctx.queue_probe:
            ctx.queue_probe.step = plan.index
        m = StepMeasurements(architecture, workload, plan, start_ns, [], {}, role_cpus=ctx.role_cpus)
        log.info(f"{architecture} step {plan.key} starts")
        _drive(ctx, loadgen, m, progress)
        m.neighbour_runs = sorted(neighbours | set(other_bench_runs()))
        if m.neighbour_runs:
            log.info(f"{architecture} step {plan.key}: other bench run(s) active beside it: pids {m.neighbour_runs}")
        if m.interrupted_by:
            _close_interrupted(ctx, loadgen, m)
        else:
            if on_drained:
                on_drained()
            _settle(ctx, m)
            sessions_after = ctx.server_stats.sessions_total()
            m.outage_s = ctx.outage_s(start_ns, time.monotonic_ns())
            # A restarted server's counters may have been reset: no count rather than a wrong one.
            if sessions_before is not None and sessions_after is not None and not m.outage_s:
                m.sessions_opened = sessions_after - sessions_before
            m.connections_left = ctx.server_stats.connections(application_name(ctx.worker_spec.architecture))
        begin, end = m.window_ns
        m.samples = ctx.sampler.between(begin, end)
        m.queue_depths = ctx.queue_probe.between(begin, end) if ctx.queue_probe else []
        return m
    finally:
        if fill_first:  # let go on every way out (a no-op once the drain began)
            for worker in ctx.pausable:
                worker.resume()
        ctx.sampler.label = (architecture, None)
        if ctx.queue_probe:
            ctx.queue_probe.step = None
        loadgen.stop()


def _drive(ctx: StepContext, loadgen: LoadGenerator, m: StepMeasurements, progress: Callable[[int, int], None]) -> None:
    """Poll until every enqueued task has a record, or the drain timeout has passed."""
    begin = m.start_ns + m.plan.warmup_ns
    end = m.start_ns + round(m.plan.duration_s * 1e9)
    expected = len(m.plan.offsets_ns())
    meters = _meters(ctx, loadgen)
    filling = m.plan.saturation and bool(ctx.pausable)
    """The workers are paused until the load generator has filled the queue; the drain begins then."""
    never = 2**63 - 1
    windows = {
        key: CpuWindow(meter, never if filling else begin, None if m.plan.saturation else end)
        for key, meter in meters.items()
    }
    # Tasks count as lost only once the workers have finished none for drain_timeout_s after the
    # schedule's end: a long backlog that still drains (a saturation step of a slow architecture) is not lost.
    timeout_ns = round(ctx.drain_timeout_s * 1e9)
    deadline_ns = end + timeout_ns
    if ctx.workers:
        ctx.workers.reset_peak()
    next_rss_ns = begin
    while True:
        now = time.monotonic_ns()
        if (reason := ctx.server_exited()) is not None:
            m.interrupted_by, m.interrupted_ns = reason, now
            break
        if _add_records(ctx.reader, m):
            deadline_ns = max(deadline_ns, now + timeout_ns)
        for window in windows.values():
            window.observe(now)
        if ctx.agents_vanished and (gone := ctx.agents_vanished()):
            m.agents_vanished += gone
            log.info(f"{m.architecture} step {m.plan.key}: bench worker(s) vanished: {', '.join(gone)}")
        if ctx.workers and next_rss_ns <= now and (now <= end or m.plan.saturation):
            ctx.workers.sample_rss()
            next_rss_ns = now + round(RSS_EVERY_S * 1e9)
        progress(len(m.records), expected)
        finished = loadgen.finished()
        if finished and not m.enqueues:
            m.enqueues = loadgen.enqueues()
            m.loadgen_senders = loadgen.senders_seen()
            _log_senders(ctx, m)
        if filling:
            deadline_ns = now + timeout_ns
            if finished:
                filling = False
                loadgen.wait_exited()  # its exit is not to run beside the drain either
                _drain(ctx, m, windows.values())
        drained = finished and now >= end and all(e.task_id in m.records for e in m.enqueues if not e.error)
        if drained or now >= deadline_ns:
            break
        time.sleep(POLL_S)
    for window in windows.values():
        window.close(time.monotonic_ns())
    m.cpu_percent = {key: window.percent() for key, window in windows.items()}
    if ctx.core_speed:
        m.core_unit_ms = ctx.core_speed.medians(*m.window_ns)
    # The window is read at the first poll past its end, up to POLL_S late: for a load generator that
    # is when it writes its rows and exits, a burst of a few hundred ms of CPU that is not sending.
    # A single process reports its CPU over its schedule itself.
    if not m.plan.saturation and (own := loadgen.schedule_cpu_percent()) is not None:
        m.cpu_percent["loadgen_cpu_percent"] = own
    if ctx.workers:
        m.rss_bytes = ctx.workers.rss_peak_bytes or ctx.workers.sample_rss()


def _meters(ctx: StepContext, loadgen: LoadGenerator) -> dict:
    """What the step meters, keyed by the `cpu_percent` entry each becomes: a role's column, or a CPU
    set's own busy time. Workers on other hosts (bench worker) are not this host's to meter: their
    columns stay empty."""
    local_workers = {"cpu_percent": ctx.workers} if ctx.workers else {}
    return {
        **local_workers,
        "loadgen_cpu_percent": ProcessMeter(loadgen.pids),
        **_loadgen_process_meters(loadgen),
        **{f"{role}_cpu_percent": meter for role, meter in ctx.other_meters.items()},
        **{cpu_set_key(cpus): CpuSetMeter(cpus) for cpus in roles_by_cpu_set(ctx.role_cpus)},
    }


def _drain(ctx: StepContext, m: StepMeasurements, windows) -> None:
    """The queue is full and the load generator idle: let the paused workers consume; the drain and
    its CPU windows begin now."""
    for worker in ctx.pausable:
        worker.resume()
    m.drain_begin_ns = time.monotonic_ns()
    for window in windows:
        window.begin_ns = m.drain_begin_ns
    log.info(
        f"{m.architecture} step {m.plan.key}: queue filled with {len(m.enqueues)} tasks in "
        f"{(m.drain_begin_ns - m.start_ns) / 1e9:.2f} s; workers resumed"
    )


def _log_senders(ctx: StepContext, m: StepMeasurements) -> None:
    for index, s in sorted(m.loadgen_senders.items()):
        log.info(
            f"{m.architecture} step {m.plan.key}: load generator {index} on {s['host']} ({s['address']}, pid {s['pid']}"
            f"{', another host' if s['remote'] else ''}) clock offset {s['clock_offset_ns'] / 1e6:.4f} "
            f"± {s['clock_uncertainty_ns'] / 1e6:.4f} ms"
        )


def _loadgen_process_meters(loadgen: LoadGenerator) -> dict[str, ProcessMeter]:
    """With a master and workers, each one's own meter (their sum is `loadgen_cpu_percent`)."""
    if loadgen.senders == [loadgen.process]:
        return {}
    named = {"master": loadgen.process, **{str(index): p for index, p in enumerate(loadgen.senders)}}
    return {LOADGEN_PROCESS_KEY + name: ProcessMeter(fixed_pids([p.pid])) for name, p in named.items()}


def _close_interrupted(ctx: StepContext, loadgen: LoadGenerator, m: StepMeasurements) -> None:
    """A server died mid-step: stop the schedule, keep what was sent, give the workers a moment to
    record what failed; the rest of what was sent counts as lost. Server-side counters are not read."""
    log.info(f"{m.architecture} step {m.plan.key} interrupted: {m.interrupted_by}")
    if not m.enqueues:
        m.enqueues = loadgen.halt()
    _settle(ctx, m, INTERRUPTED_GRACE_S)


def _settle(ctx: StepContext, m: StepMeasurements, seconds: float = SETTLE_S) -> None:
    """Wait `seconds` for late records and the server's counters; less once every task has its record
    and the session count has stayed still for SETTLED_QUIET_S."""
    start = time.monotonic()
    deadline, counts = start + seconds, []
    while time.monotonic() < deadline:
        _add_records(ctx.reader, m)
        if _all_recorded(m):
            counts.append((time.monotonic(), ctx.server_stats.sessions_total()))
            still = [at for at, count in counts if count == counts[-1][1] and count is not None]
            if still and counts[-1][0] - still[0] >= SETTLED_QUIET_S:
                break
        time.sleep(POLL_S)
    _add_records(ctx.reader, m)


def _all_recorded(m: StepMeasurements) -> bool:
    return bool(m.enqueues) and all(e.task_id in m.records for e in m.enqueues if not e.error)


def _add_records(reader: RecordReader, m: StepMeasurements) -> list[TaskRecord]:
    """Add the step's new task records; returns them."""
    return add_records(reader, m.plan, m.records)


def add_records(reader: RecordReader, plan: StepPlan, records: dict[str, TaskRecord]) -> list[TaskRecord]:
    """The new task records of `plan` (other steps' are dropped), added to `records` by task id."""
    added = [record for record in reader.poll() if step_key(record.id) == plan.key]
    records.update((record.id, record) for record in added)
    return added
