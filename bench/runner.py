"""A whole run: services, workload set-up, probes, then each architecture's steps in turn.

Whatever happens (a finished run, an error, Ctrl-C or SIGTERM), every child process is stopped,
every finished step stays in results/<run-id>/ and run.json says how the run ended.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import socket
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import metadata
from bench.architectures import WorkerSpec, get_architecture
from bench.architectures.base import DRAINED_STOP_GRACE_S
from bench.arms import Arm
from bench.agents import AgentDirectory
from bench.clock import WORKER_SKEW_ENV
from bench.collect import RecordReader
from bench.control import ControlRecordReader
from bench.config import Profile
from bench.config_file import REPO_DIR
from bench.console import stderr, step_progress
from bench.engines import admin_engine, application_name
from bench.errors import BenchError, ServerExited
from bench.loadgen import MasterAddress, farewell
from bench.probes.connection_sampler import ConnectionSampler
from bench.probes.process_meter import MachineMeter, ProcessMeter
from bench.probes.queue_depth import QueueDepthProbe
from bench.probes.server_stats import ServerStats
from bench.processes import stop_all
from bench.results import RunFolder
from bench.schedule import StepPlan
from bench.services import Services, running_services
from bench.services.brokers import broker_kind
from bench.services.urls import redact_url
from bench.services.outages import OutageWatch
from bench.services.postgres import DATABASE
from bench.stats import add_spread, summarize, task_rows
from bench.probes.calibration import calibrate, tls_costs
from bench.probes.pgbench_check import pgbench_connect_cost
from bench.probes.server_statements import held_statements
from bench.step import StepContext, run_step
from bench.warmup import WarmUp, warm_up
from bench.workload import make_workload


CAVEATS = [
    "The load generator, the workers, the broker and the database share this machine's {cores} cores: at "
    "high rates they compete for CPU, so a limit seen here may be the machine's, not the architecture's. "
    "machine_cpu_percent near {cores}00 % means the machine was the limit; cpu_percent (workers), "
    "db_, broker_, loadgen_ and bench_cpu_percent say who used it.",
    "connections_mean/peak come from pg_stat_activity sampled every {interval_ms:g} ms; connections "
    "shorter than that (NullPool's) can fall between samples, so the peak is a lower bound. "
    "sessions_opened is exact (pg_stat_database.sessions) and includes nothing of bench's own.",
    "Latency is measured from each task's scheduled arrival (open loop), so it includes how late the load "
    "generator started each send (send_late) and the send itself (send); a large send_late means the "
    "generator, not the workers, fell behind.",
]
EXTERNAL_READY_TIMEOUT_S = 120
"""How long a run waits for the bench worker agents to report an architecture's workers up."""
SATURATION_WARM_RATE_PER_PROCESS = 10.0
"""Tasks/s per worker process of the warm-up before a saturation step that is an arm's first."""
LOOPBACK_CAVEAT = "All servers are on loopback: connect times exclude network round trips a real deployment pays."
DISTANCE_CAVEAT = ("The database's distance (rtt_ms) is made by bench's delay proxy: a fixed delay per message, "
                   "without the jitter, loss and bandwidth limits of a real network; the proxy's CPU "
                   "(proxy_cpu_percent) is spent on this machine.")


def _database_meter(services: Services) -> ProcessMeter:
    """CPU of the managed PostgreSQL's process tree, its exited backends included."""
    return ProcessMeter(lambda: [services.postgres.pid])


def _shared_machine_meters(services: Services, broker: str, label: str, log) -> dict[str, ProcessMeter]:
    """CPU meters of what else runs on this machine: bench itself, and the servers it manages
    (servers given by URL are not its to measure); the broker role is the broker of the arm that runs.
    The log names each role's processes, so what a CPU column counted can be checked."""
    meters = {"bench": ProcessMeter(lambda: [os.getpid()], tree=False), "machine": MachineMeter()}
    by_role = {"db": [services.postgres], "broker": [services.managed_brokers.get(broker)],
               "pgbouncer": [services.pgbouncer], "control": [services.control],
               "proxy": services.proxies}
    for role, servers in by_role.items():
        pids = [server.pid for server in servers if server and server.pid]
        if pids:
            meters[role] = ProcessMeter(lambda pids=pids: pids)
            log(f"{label}: {role} CPU is that of pid={','.join(map(str, pids))} and its children")
    return meters


class Run:
    def __init__(self, profile: Profile, results_root: Path, log=None) -> None:
        self.profile = profile
        self.folder = RunFolder.create(results_root, profile.name)
        self._log_file = open(self.folder.path / "bench.log", "a", buffering=1)
        self.rows: list[dict] = []
        self.status = "running"
        self._started = dt.datetime.now().astimezone()
        self._facts: dict = {}
        self.failure: str | None = None
        """Why the run failed, when a server it started died."""
        self._outages: OutageWatch | None = None
        self._agents: AgentDirectory | None = None
        """The bench worker agents' directory, with workers = "external"."""
        self._run_start_ns = 0
        self._loadgen_master: MasterAddress | None = None
        """Where each step's Locust master listens, with load generators on other hosts."""
        self._clock_offsets: list[dict] = []
        """run.json's `clock_offsets`: each step's, as it finishes."""

    def log(self, message: str) -> None:
        self._log_file.write(f"{dt.datetime.now().isoformat(timespec='milliseconds')} {message}\n")

    def execute(self) -> None:
        """Run every architecture's steps; sets `status` to complete, interrupted or failed."""
        self._write_run_json()
        work_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
        try:
            self._loadgen_master = self._master_address()
            with running_services(self.folder.logs, self.profile.database_url, self.profile.broker_url,
                                  self.profile.max_connections, log=self.log, auth=self.profile.auth,
                                  ssl=self.profile.ssl, redis_tls=self.profile.redis_tls, cpus=self.profile.cpus, pgbouncer=self._needs_pgbouncer(),
                                  distance=self.profile.distances() != [None], brokers=self.profile.brokers(),
                                  control=self.profile.via_control(), control_url=self.profile.control_url,
                                  listen=self.profile.listen,
                                  pgbouncer_beside=self.profile.pgbouncer_beside) as services:
                self._measure_watching(services, work_dir)
            self.status = "complete"
        except KeyboardInterrupt:
            self.status = "interrupted"
            raise
        except ServerExited as exc:
            self.status, self.failure = "failed", exc.reason
            raise
        except BaseException:
            self.status = "failed"
            raise
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
            self._write_run_json()
            self.log(f"run {self.status}")
            self._log_file.close()

    def _needs_pgbouncer(self) -> bool:
        return any(get_architecture(a).pgbouncer for a in self.profile.architectures)

    def _measure_watching(self, services: Services, work_dir: Path) -> None:
        """Measure; whatever goes wrong once a server bench started has died is put down to that death."""
        try:
            self._measure(services, work_dir)
        except (KeyboardInterrupt, ServerExited):
            raise
        except Exception as exc:
            reason = services.exited()
            if reason is None:
                raise
            self.log(f"{reason}; then {type(exc).__name__}: {exc}".splitlines()[0])
            raise ServerExited(reason) from None

    def _measure(self, services: Services, work_dir: Path) -> None:
        workload = make_workload(self.profile.workload, self.profile.table_rows, self.profile.workload_params)
        arms = [(arm, get_architecture(arm.architecture)()) for arm in self.profile.arms()]
        self._prepare_database(services, workload)
        run_start_ns = time.monotonic_ns()
        server_stats = ServerStats(services.database_url)
        sampler = ConnectionSampler(services.database_url, self.folder.samples_csv, run_start_ns)
        self._facts = self._environment(services, server_stats, sampler)
        self._write_run_json()
        self._outages = OutageWatch(services.given_by_url_probes())
        self._run_start_ns = run_start_ns
        sampler.start()
        self._outages.start()
        self._agents = (AgentDirectory(services.control_url, self.folder.run_id)
                        if self.profile.workers == "external" else None)
        if self._agents:
            stderr.print(f"waiting for {self.profile.external_workers} bench worker(s): on each worker host run "
                         f"`bench worker --control {self._control_url_for_agents(services.control_url, work_dir)}`")
            self.log(f"control channel for bench worker: {redact_url(services.control_url)}")
        try:
            for distance_index, rtt_ms in enumerate(self.profile.distances()):
                with services.at_distance(rtt_ms, log=self.log):
                    for arm, architecture in arms:
                        with services.pgbouncer_for(architecture, log=self.log):
                            self._run_architecture(arm, architecture, services, work_dir, sampler, server_stats,
                                                   run_start_ns, distance_index)
            if self.profile.pgbench_check:
                self._facts["crosscheck"] = self._pgbench_check(services, workload)
        finally:
            if self._agents:
                self._agents.stop_all()  # whatever the end: their workers carry this run's queue and URLs
            if self._loadgen_master:
                farewell(self._loadgen_master, self.folder.logs)
                self.log("told the load generators on other hosts the run is over")
            self._outages.stop()
            sampler.stop()
            server_stats.close()

    @staticmethod
    def _control_url_for_agents(url: str, work_dir: Path) -> str:
        """The control URL as the agents need it. One with a password (bench's own channel) is written
        to a file only its user can read, removed with the run, and named instead: passwords never
        appear on the terminal or in logs."""
        if redact_url(url) == url:
            return url
        path = work_dir / "control-url"
        path.touch(mode=0o600)
        path.write_text(url + "\n")
        return f'"$(cat {path})"'

    def _master_address(self) -> MasterAddress | None:
        """With load generators on other hosts: the address every step's Locust master listens on,
        checked free now so that a taken port fails the run at once, in one line."""
        p = self.profile
        if not p.external_loadgens:
            return None
        master = MasterAddress(p.listen or "127.0.0.1", p.loadgen_port, p.external_loadgens, EXTERNAL_READY_TIMEOUT_S)
        probe = socket.socket()
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((master.host, master.port))
        except OSError as exc:
            raise BenchError(f"the load generators' master cannot listen on {master}: {exc.strerror}; "
                             f"set loadgen_port (--loadgen-port)") from None
        finally:
            probe.close()
        stderr.print(f"waiting for {p.external_loadgens} load generator(s) at every step: on each host run "
                     f"`bench loadgen --master {master}`")
        self.log(f"load generators on other hosts connect to {master}")
        return master

    def _prepare_database(self, services: Services, workload) -> None:
        engine = admin_engine(services.database_url)
        try:
            with engine.begin() as connection:
                workload.setup(connection)
        finally:
            engine.dispose()
        self.log(f"workload {workload.name} set up with {self.profile.table_rows} rows")

    def _run_architecture(self, arm: Arm, architecture, services: Services, work_dir: Path,
                          sampler: ConnectionSampler, server_stats: ServerStats, run_start_ns: int,
                          distance_index: int) -> None:
        p = self.profile
        records_dir = work_dir / f"{arm.architecture}-{arm.broker}-{distance_index}"
        records_dir.mkdir()
        spec = WorkerSpec(architecture.name, services.worker_database_url, services.broker_urls[arm.broker],
                          f"bench-{self.folder.run_id}-{arm.architecture}-{arm.broker}", p.workload, p.table_rows,
                          str(records_dir), p.worker_processes, p.pool_size, p.max_overflow, p.workload_params,
                          tasks_per_process=p.tasks_per_process, task_time_limit_s=p.task_time_limit_seconds,
                          prefetch_multiplier=p.prefetch_multiplier, cpus=p.cpus.get("workers"),
                          pgbouncer_url=services.pgbouncer_url, label=arm.label, control_url=services.control_url,
                          clock_skew_ns=round(float(os.environ.get(WORKER_SKEW_ENV, "0") or 0) * 1e6))
        workers = self._start_workers(architecture, spec)
        queue_probe = QueueDepthProbe(spec.broker_url, spec.queue, arm.label, self.folder.queue_depth_csv, run_start_ns)
        queue_probe.start()
        ctx = StepContext(spec, p.loadgen_users, p.drain_timeout_seconds, work_dir, self.folder.logs, sampler,
                          server_stats, ProcessMeter(lambda: [w.pid for w in workers]) if not self._agents else None,
                          _shared_machine_meters(services, arm.broker, arm.label, self.log), self._reader(spec), self.log, services.exited,
                          self._outages.down_s, p.cpus, services.rtt_ms, services.database_url, queue_probe,
                          p.loadgen_processes, self._agents.vanished if self._agents else None,
                          self._loadgen_master, pausable=workers)
        try:
            for index, rate in enumerate(p.rates):
                # Step numbers run on through the distances, so (architecture, step) names one step.
                self._run_repetitions(ctx, distance_index * len(p.rates) + index, rate, run_start_ns)
        finally:
            queue_probe.stop()
            ctx.reader.close()
            stop_all(workers, grace_s=DRAINED_STOP_GRACE_S)
            self.log(f"stopped {arm.label} workers")

    def _start_workers(self, architecture, spec: WorkerSpec) -> list:
        """Start the arm's workers here, or have the bench worker agents start them on their hosts."""
        if not self._agents:
            workers = architecture.start_workers(spec, self.folder.logs)
            self.log(f"started {spec.arm_label} workers pids={[w.pid for w in workers]} on "
                     f"{broker_kind(spec.broker_url)}")
            return workers
        generation = self._agents.assign(spec)
        ready = self._agents.wait_ready(generation, self.profile.external_workers, EXTERNAL_READY_TIMEOUT_S)
        self.log(f"bench worker(s) {', '.join(ready)} run {spec.arm_label}")
        return []

    @staticmethod
    def _reader(spec: WorkerSpec):
        if spec.control_url:
            return ControlRecordReader(spec.control_url, spec.queue)
        return RecordReader(Path(spec.records_dir))

    def _run_repetitions(self, ctx: StepContext, index: int, rate, run_start_ns: int) -> None:
        """Repetitions of a step run back to back and are written together, with their spread; a step
        cut short by a dead server is written with those before it, and ends the run."""
        rows = []
        for repetition in range(self._repetitions(rate)):
            rows.append(self._run_one_step(ctx, self._plan(index, rate, repetition), run_start_ns))
            if rows[-1]["interrupted_by"]:
                break
        add_spread(rows)
        self.folder.append_steps(rows)
        self.rows.extend(rows)
        if rows[-1]["interrupted_by"]:
            raise ServerExited(rows[-1]["interrupted_by"])

    def _repetitions(self, rate) -> int:
        p = self.profile
        return p.saturation_repeat or p.repeat if rate == "max" else p.repeat

    def _plan(self, index: int, rate, repetition: int) -> StepPlan:
        p = self.profile
        if rate == "max":
            return StepPlan.saturation_step(index, p.saturation_tasks, p.random_seed, repetition)
        return StepPlan(index, float(rate), p.warmup_seconds, p.step_seconds, p.arrival, p.random_seed,
                        repetition=repetition)

    def _run_one_step(self, ctx: StepContext, plan: StepPlan, run_start_ns: int) -> dict:
        rate = f"max ({plan.task_count} tasks)" if plan.saturation else f"{plan.rate_per_s:g}/s"
        if ctx.rtt_ms is not None:
            rate += f" at rtt {ctx.rtt_ms:g} ms"
        runs = self._repetitions("max" if plan.saturation else plan.rate_per_s)
        repeat = f" (run {plan.repetition + 1}/{runs})" if runs > 1 else ""
        label = f"{ctx.worker_spec.arm_label} step {plan.index}: {rate}{repeat}"
        warm = None
        if not plan.saturation and plan.warmup_s > 0:
            warm = self._warm_up(ctx, plan, label)
            plan = dataclasses.replace(plan, warmup_s=0.0)  # the step is measured from its first arrival
        elif plan.saturation and self.profile.warmup_seconds > 0 and len(ctx.warm_processes) < self._processes():
            # A drain as the arm's first step would time cold workers (7 % slower for threads-pool here):
            # they are warmed at a modest rate first, as a rate step would have.
            rate = SATURATION_WARM_RATE_PER_PROCESS * self._processes()
            warm = self._warm_up(ctx, dataclasses.replace(plan, rate_per_s=rate, arrival="uniform", task_count=0), label)
        with step_progress(label) as progress:
            measurements = run_step(ctx, self.profile.workload, plan, progress)
        row = summarize(measurements)
        if warm:
            row.update(warmup_s=round(warm.seconds, 3), warmup_end=warm.reason)
        if row.get("unsteady"):
            self.log(f"{label}: unsteady: its latency fell across the measured part (a backlog drained in it)")
            stderr.print(f"[yellow]unsteady[/] {label}: its latency fell across the measured part; "
                         f"it counts neither as held nor as broken")
        if (offsets := _clock_offsets(row, measurements.loadgen_senders)) is not None:
            self._clock_offsets.append(offsets)
        row["rtt_ms"] = "" if ctx.rtt_ms is None else ctx.rtt_ms
        row["broker"] = broker_kind(ctx.worker_spec.broker_url)
        if ctx.worker_spec.pgbouncer_url and not row["interrupted_by"]:
            row.update(self._statements_held(ctx))
        self.folder.append_tasks(task_rows(measurements, run_start_ns))
        self.log(f"finished {label}: completed={row['completed']} failed={row['failed']} lost={row['lost']}")
        stderr.print(f"[green]done[/] {label}: {row['completed']} completed, {row['failed']} failed, "
                     f"p99 {row['latency_p99_ms']} ms")
        if row.get("agents_vanished"):
            stderr.print(f"[yellow]bench worker(s) vanished[/] during {label}: {row['agents_vanished']}; "
                         f"{row['lost']} task(s) lost")
        return row

    def _processes(self) -> int:
        """Worker processes of an arm, on every host."""
        return self.profile.worker_processes * (self.profile.external_workers if self._agents else 1)

    def _warm_up(self, ctx: StepContext, plan: StepPlan, label: str) -> WarmUp:
        p = self.profile
        processes = self._processes()
        with stderr.status(f"{label}: warming up"):
            warm = warm_up(ctx, plan, p.warmup_seconds, p.warmup_max_seconds, processes, ctx.warm_processes)
        self.log(f"{label}: warm-up {warm.seconds:.2f} s ({warm.reason}), {warm.tasks} tasks on "
                 f"{warm.processes} worker processes ({len(ctx.warm_processes)} of {processes} warm)")
        return warm

    def _statements_held(self, ctx: StepContext) -> dict:
        """Prepared statements on PgBouncer's server connections after the step (empty if none are open)."""
        held = held_statements(ctx.worker_spec.pgbouncer_url, ctx.database_url,
                               application_name(ctx.worker_spec.architecture))
        if held is None:
            return {}
        self.log(f"{ctx.worker_spec.architecture}: {held}")
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in held.columns().items()}

    def _environment(self, services: Services, server_stats: ServerStats, sampler: ConnectionSampler) -> dict:
        versions = metadata.package_versions()
        versions["postgresql"] = server_stats.server_version
        for kind, url in services.broker_urls.items():
            versions[kind] = metadata.broker_version(url)
        host = metadata.host_facts()
        caveats = [c.format(cores=host["cpu_count"], interval_ms=sampler.interval_s * 1000) for c in CAVEATS]
        caveats.append(LOOPBACK_CAVEAT if self.profile.distances() == [None] else DISTANCE_CAVEAT)
        return {"versions": versions, "host": host, "caveats": caveats,
                "server": {"max_connections": server_stats.max_connections,
                           "managed": services.postgres is not None,
                           "auth": services.postgres.auth if services.postgres else None,
                           "ssl": server_stats.ssl_in_use,
                           "session_counts": server_stats.has_session_counts},
                "calibration": self._calibrate(services)}

    def _pgbench_check(self, services: Services, workload) -> dict | None:
        """pgbench -C on the managed server at the run's lowest and highest rates, after the architectures
        have run: the slope between them is its marginal database CPU per transaction."""
        rates = sorted({min(rs), max(rs)}) if (rs := [r for r in self.profile.rates if r != "max"]) else []
        script = workload.pgbench_script()
        if not (services.postgres and rates and script):
            self.log("pgbench check skipped: it needs the managed server, a rate step and a workload script")
            return None
        server = _database_meter(services)
        stderr.print(f"pgbench -C at {' and '.join(f'{r:g}/s' for r in rates)} for {self.profile.step_seconds:g} s "
                     f"each (cross-check)")
        cost = pgbench_connect_cost(services.database_url, server, script, rates, self.profile.step_seconds)
        self.log(f"pgbench check: {cost}")
        return {"pgbench": asdict(cost)}

    def _calibrate(self, services: Services) -> dict[str, float]:
        costs = calibrate()
        if self.profile.calibrate_tls and services.postgres and services.postgres.tls_capable:
            costs.update(tls_costs(services.postgres.admin_url(DATABASE), _database_meter(services)))
            self.log(f"calibration: {costs}")
        return costs

    def _write_run_json(self) -> None:
        self.folder.write_run_json({
            "run_id": self.folder.run_id, "status": self.status, "started_at": self._started.isoformat(),
            "ended_at": None if self.status == "running" else dt.datetime.now().astimezone().isoformat(),
            "profile": self.profile.redacted(), "git": metadata.git_commit(REPO_DIR),
            "steps_finished": len(self.rows), "failure": self.failure, **self._facts,
            "outages": [o.as_dict(self._run_start_ns) for o in self._outages.outages] if self._outages else [],
            "clock_offsets": self._clock_offsets,
        })


def _clock_offsets(row: dict, senders: dict[int, dict]) -> dict | None:
    """One step's clock offsets to bench's clock, where they were estimated: the workers' (records over
    the control channel) and each load generator process's (under a Locust master); None if neither."""
    entry = {"architecture": row["architecture"], "step": row["step"], "repetition": row["repetition"]}
    if row.get("clock_offset_ms") is not None:
        entry["workers"] = {"offset_ms": row["clock_offset_ms"], "uncertainty_ms": row["clock_uncertainty_ms"]}
    if senders:
        entry["loadgens"] = {str(index): {"offset_ms": s["clock_offset_ns"] / 1e6, "uncertainty_ms": s["clock_uncertainty_ns"] / 1e6}
                             for index, s in sorted(senders.items())}
    return entry if "workers" in entry or "loadgens" in entry else None
