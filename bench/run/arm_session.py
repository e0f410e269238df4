"""One arm of a run (an architecture on a broker, at one distance): its worker spec, its workers
(here, or on the bench worker agents' hosts), what its steps share, and its steps in turn."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.architectures import WorkerSpec
from bench.architectures.base import DRAINED_STOP_GRACE_S
from bench.record.limits import Limits, held, kept_up
from bench.run.arm_choice import rates_under_ceiling
from bench.settings.arms import Arm
from bench.clock import WORKER_SKEW_ENV
from bench.record.collect import RecordReader
from bench.settings.config import STEP_KINDS, Profile
from bench.record.control import ControlRecordReader
from bench.probes.connection_sampler import ConnectionSampler
from bench.probes.core_speed import CoreSpeedProbe, core_sets
from bench.probes.process_meter import CpuMeter, MachineMeter, ProcessMeter, ProcessTimeMeter, fixed_pids
from bench.probes.queue_depth import QueueDepthProbe
from bench.probes.server_stats import ServerStats
from bench.processes import stop_all
from bench.hosts.agents import AgentDirectory
from bench.hosts.remote_parts import EXTERNAL_READY_TIMEOUT_S
from bench.loadgen import MasterAddress
from bench.record.results import RunFolder
from bench.services import Services
from bench.services.managed import ManagedServer
from bench.urls import broker_kind
from bench.services.outages import OutageWatch
from bench.run.step import StepContext
from bench.run.step_runner import StepRunner
from bench.workload_loader import absolute_ref

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class RunParts:
    """What every arm of a run shares."""

    profile: Profile
    folder: RunFolder
    services: Services
    work_dir: Path
    run_start_ns: int
    sampler: ConnectionSampler
    server_stats: ServerStats
    outages: OutageWatch
    core_speed: CoreSpeedProbe
    agents: AgentDirectory | None = None
    """The bench worker agents' directory, with workers = "external" (bench/hosts/remote_parts.py)."""
    loadgen_master: MasterAddress | None = None
    """Where each step's Locust master listens, with load generators on other hosts."""
    stopping: list = field(default_factory=list)
    """The last arm's workers, asked to stop and exiting while the next arm's start (`finish_stopping`)."""
    stop_deadline: float = 0.0

    @classmethod
    def create(
        cls, *, services: Services, folder: RunFolder, run_start_ns: int, profile: Profile, **others
    ) -> "RunParts":
        """The parts, with the run's probes made (`begin` starts them): connections sampled, server
        statistics read, servers given by URL watched for outages, each CPU set's speed sampled."""
        return cls(
            services=services,
            folder=folder,
            run_start_ns=run_start_ns,
            profile=profile,
            sampler=ConnectionSampler(services.database_url, folder.samples_csv, run_start_ns),
            server_stats=ServerStats(services.database_url),
            outages=OutageWatch(services.given_by_url_probes()),
            core_speed=CoreSpeedProbe(core_sets(profile.cpus)),
            **others,
        )

    def begin(self) -> None:
        self.sampler.start()
        self.outages.start()
        self.core_speed.start()

    def retire(self, workers: list) -> None:
        """Ask an arm's workers to stop, and let them exit while the next arm starts its own (their
        steps have drained: nothing measured is lost, and nothing is measured while they exit)."""
        for worker in workers:
            if worker.alive():
                worker.ask_to_stop()
        self.stopping += workers
        self.stop_deadline = time.monotonic() + DRAINED_STOP_GRACE_S

    def finish_stopping(self) -> None:
        """Wait for the retired workers until their grace is up, then kill what is left."""
        if self.stopping:
            stop_all(self.stopping, grace_s=max(0.0, self.stop_deadline - time.monotonic()))
            log.info(f"stopped workers pids={[w.pid for w in self.stopping]}")
            self.stopping = []

    def stop(self) -> None:
        # The run's last workers: no arm starts beside their exit, and nothing is measured after them
        # (their steps drained, or the run was cut short), so their grace is not waited out: a prefork
        # worker's warm shutdown took ~1.5 s at the end of every run.
        self.stop_deadline = min(self.stop_deadline, time.monotonic())
        self.finish_stopping()
        self.outages.stop()
        self.sampler.stop()
        self.core_speed.stop()
        self.server_stats.close()


@dataclass(frozen=True)
class Search:
    """Which of an arm's rates to run: all, or fewer once one step has said what the others would."""

    stop_when_behind: bool = False
    """Rates rising: run no higher rate once a step fell behind its arrivals (it says nothing new, and
    draining its backlog costs the most time of a step)."""
    stop_when_held: Limits | None = None
    """Rates falling: run no lower rate once a step held its rate within these limits, as the advice
    judges it (a lower rate would hold too)."""

    def done_after(self, rate, row: dict) -> bool:
        if rate in STEP_KINDS:
            return False
        if self.stop_when_held:
            return held(row, self.stop_when_held)
        return self.stop_when_behind and not kept_up(row)


ALL_RATES = Search()


@dataclass
class ArmSession:
    """An arm's workers, running: its steps go to `runner`, one `run` of rates after another."""

    arm: Arm
    ctx: StepContext
    runner: StepRunner
    distance_index: int

    def run(
        self, rates: list, first_step: int = 0, search: Search = ALL_RATES, saturation_tasks: int | None = None
    ) -> None:
        """The steps of `rates`, numbered from `first_step`, fewer as `search` says; a "max" step
        enqueues `saturation_tasks` (default: the profile's)."""
        for index, rate in enumerate(rates):
            # Step numbers run on through the distances, so (architecture, step) names one step.
            self.runner.run_rate(
                self.ctx,
                first_step + self.distance_index * len(rates) + index,
                rate,
                saturation_tasks,
                next_rate=rates[index + 1] if index + 1 < len(rates) else None,
            )
            if search.done_after(rate, self.runner.rows[-1]):
                log.info(
                    f"{self.arm.label}: {'held' if search.stop_when_held else 'fell behind'} at "
                    f"{rate:g}/s; no {'lower' if search.stop_when_held else 'higher'} rate"
                )
                break


@contextmanager
def arm_session(
    parts: RunParts, services: Services, arm: Arm, architecture, distance_index: int, runner: StepRunner
) -> Iterator[ArmSession]:
    """Start the arm's workers, yield them for its steps, stop them whatever happens. `services` are
    the run's, with what this arm adds (a delay proxy, its PgBouncer)."""
    spec = worker_spec(parts, services, arm, architecture, distance_index)
    try:
        workers = _start_workers(parts, architecture, spec)
    finally:
        parts.finish_stopping()  # the last arm's workers exited while these started
    queue_probe = QueueDepthProbe(
        spec.broker_url, spec.queue, arm.label, parts.folder.queue_depth_csv, parts.run_start_ns
    )
    queue_probe.start()
    ctx = _step_context(parts, services, arm, spec, workers, queue_probe)
    try:
        yield ArmSession(arm, ctx, runner, distance_index)
    finally:
        runner.stop_ahead()
        queue_probe.stop()
        ctx.reader.close()
        parts.retire(workers)
        log.info(f"asked {arm.label} workers to stop")


def run_arm(
    parts: RunParts,
    services: Services,
    arm: Arm,
    architecture,
    distance_index: int,
    runner: StepRunner,
    rates: list | None = None,
    first_step: int = 0,
    search: Search = ALL_RATES,
    ceiling_tasks: int | None = None,
) -> None:
    """One session of the arm: its `rates` (default: the profile's) from `first_step`, as `search` says;
    with `ceiling_tasks`, its ceiling first (a "max" step of that many tasks), then only the rates it
    can drain."""
    rates = rates or parts.profile.rates
    with arm_session(parts, services, arm, architecture, distance_index, runner) as session:
        if ceiling_tasks:
            session.run(["max"], first_step, saturation_tasks=ceiling_tasks)
            drain = runner.drain(arm.label, runner.rows[-1]["step"])
            ceiling = drain.median if drain else None
            kept = rates_under_ceiling(rates, ceiling)
            if kept != rates:
                log.info(
                    f"{arm.label}: ceiling {ceiling:.0f}/s, so at {', '.join(f'{r:g}/s' for r in kept)} "
                    f"instead of {', '.join(f'{r:g}/s' for r in rates)}"
                )
            rates, first_step = kept, first_step + 1
        session.run(rates, first_step, search)


def worker_spec(parts: RunParts, services: Services, arm: Arm, architecture, distance_index: int) -> WorkerSpec:
    p = parts.profile
    # A folder of its own per session of the arm (an arm can have one per distance).
    records_dir = Path(
        tempfile.mkdtemp(prefix=f"{arm.architecture}-{arm.broker}-{distance_index}-", dir=parts.work_dir)
    )
    return WorkerSpec(
        architecture=architecture.name,
        database_url=services.worker_database_url,
        broker_url=services.broker_urls[arm.broker],
        queue=f"bench-{parts.folder.run_id}-{arm.architecture}-{arm.broker}",
        workload=absolute_ref(p.workload),
        table_rows=p.table_rows,
        records_dir=str(records_dir),
        worker_processes=p.worker_processes,
        pool_size=p.pool_size,
        max_overflow=p.max_overflow,
        workload_params=p.workload_params_of(arm),
        tasks_per_process=p.tasks_per_process,
        task_time_limit_s=p.task_time_limit_seconds,
        prefetch_multiplier=p.prefetch_multiplier,
        cpus=p.cpus.get("workers"),
        pgbouncer_url=services.pgbouncer_url,
        label=arm.label,
        service_url=services.outside_service.url if services.outside_service else None,
        control_url=services.control_url,
        clock_skew_ns=round(float(os.environ.get(WORKER_SKEW_ENV, "0") or 0) * 1e6),
    )


def _start_workers(parts: RunParts, architecture, spec: WorkerSpec) -> list:
    """Start the arm's workers here, or have the bench worker agents start them on their hosts."""
    if not parts.agents:
        workers = architecture.start_workers(spec, parts.folder.logs)
        log.info(f"started {spec.arm_label} workers pids={[w.pid for w in workers]} on {broker_kind(spec.broker_url)}")
        return workers
    generation = parts.agents.assign(spec)
    ready = parts.agents.wait_ready(generation, parts.profile.external_workers, EXTERNAL_READY_TIMEOUT_S)
    log.info(f"bench worker(s) {', '.join(ready)} run {spec.arm_label}")
    return []


def _step_context(
    parts: RunParts, services: Services, arm: Arm, spec: WorkerSpec, workers: list, queue_probe
) -> StepContext:
    p, agents = parts.profile, parts.agents
    return StepContext(
        worker_spec=spec,
        loadgen_users=p.loadgen_users,
        drain_timeout_s=p.drain_timeout_seconds,
        work_dir=parts.work_dir,
        log_dir=parts.folder.logs,
        sampler=parts.sampler,
        core_speed=parts.core_speed,
        server_stats=parts.server_stats,
        workers=ProcessMeter(lambda: [w.pid for w in workers]) if not agents else None,
        other_meters=_shared_machine_meters(services, arm.broker, arm.label),
        reader=_reader(spec),
        server_exited=services.exited,
        outage_s=parts.outages.down_s,
        role_cpus={role: cpus for role, cpus in p.cpus.items()},  # by plain role names
        rtt_ms=services.rtt_ms,
        pgbouncer_version=services.pgbouncer_version,
        database_url=services.database_url,
        queue_probe=queue_probe,
        loadgen_processes=p.loadgen_processes,
        agents_vanished=agents.vanished if agents else None,
        loadgen_master=parts.loadgen_master,
        pausable=workers,
    )


def _reader(spec: WorkerSpec):
    if spec.control_url:
        return ControlRecordReader(spec.control_url, spec.queue)
    return RecordReader(Path(spec.records_dir))


def _shared_machine_meters(services: Services, broker: str, label: str) -> dict[str, CpuMeter]:
    """CPU meters of what else runs on this machine: bench itself, and the servers it manages
    (servers given by URL are not its to measure); the broker role is the broker of the arm that runs.
    The log names each role's processes, so what a CPU column counted can be checked."""
    meters: dict[str, CpuMeter] = {
        "bench": ProcessMeter(fixed_pids([os.getpid()]), tree=False),
        "machine": MachineMeter(),
        # What every process used, and everything bench runs here (itself, its children, the servers it
        # started): the difference is the foreign load (bench.record.stats.foreign_cpu_percent).
        "processes": ProcessTimeMeter(),
        "bench_tree": ProcessMeter(lambda: [os.getpid(), *services.managed_pids().values()]),
    }
    by_role: dict[str, Sequence[ManagedServer | None]] = {
        "db": [services.postgres],
        "broker": [services.managed_brokers.get(broker)],
        "pgbouncer": [services.pgbouncer],
        "control": [services.control],
        "proxy": services.proxies,
        "service": [services.outside_service],
    }
    for role, servers in by_role.items():
        pids = [server.pid for server in servers if server and server.pid]
        if pids:
            meters[role] = ProcessMeter(fixed_pids(pids))
            log.info(f"{label}: {role} CPU is that of pid={','.join(map(str, pids))} and its children")
    return meters
