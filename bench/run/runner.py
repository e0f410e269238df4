"""A whole run: services, workload set-up, probes, then each architecture's steps in turn.

Whatever happens (a finished run, an error, Ctrl-C or SIGTERM), every child process is stopped,
every finished step stays in results/<run-id>/ and run.json says how the run ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from pathlib import Path

from bench.hosts import remote_parts

from bench.run import facts as run_facts

from bench.run import plan as run_plan
from bench.run.neighbours import neighbour_caveat, other_bench_runs
from bench.run.arm_session import RunParts, run_arm
from bench.settings.config import Profile
from bench.errors import ServerExited
from bench.logfile import log_to
from bench.observer import RunObserver
from bench.record.results import RunFolder
from bench.services import Services, services_for
from bench.run.step_runner import StepRunner
from bench.workload_loader import make_workload

log = logging.getLogger(__name__)


class Run:
    def __init__(
        self,
        profile: Profile,
        results_root: Path,
        observer: RunObserver | None = None,
        skipped: dict[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.skipped = skipped or {}
        """Arms left out because the workload lacks their task body, by label: why (bench/run/arm_bodies.py)."""
        self.folder = RunFolder.create(results_root, profile.name)
        self.observer = observer or RunObserver()
        """Who is told how the run goes (`bench run`: the terminal); bench.log gets it all anyway."""
        self.status = "running"
        self._started = dt.datetime.now().astimezone()
        self._facts: dict = run_facts.code_version()
        self.failure: str | None = None
        """Why the run failed, when a server it started died."""
        self._parts: RunParts | None = None
        self._steps: StepRunner | None = None

    @property
    def rows(self) -> list[dict]:
        """The steps.csv rows of the steps finished so far."""
        return self._steps.rows if self._steps else []

    def execute(self) -> None:
        """Run every architecture's steps; sets `status` to complete, interrupted or failed."""
        with log_to(self.folder.path / "bench.log"):
            self._execute()

    def _execute(self) -> None:
        self._write_run_json()
        work_dir = Path(tempfile.mkdtemp(prefix="bench-run-"))
        try:
            master = remote_parts.loadgen_master(self.profile, self.observer)
            p = self.profile
            workload = make_workload(p.workload, p.table_rows, p.workload_params)
            with services_for(
                p, self.folder.logs, run_plan.needs_pgbouncer(p), workload.outside_service_ms()
            ) as services:
                self._measure_watching(services, workload, work_dir, master)
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
            log.info(f"run {self.status}")

    def _measure_watching(self, services: Services, workload, work_dir: Path, master) -> None:
        """Measure; whatever goes wrong once a server bench started has died is put down to that death."""
        try:
            self._measure(services, workload, work_dir, master)
        except (KeyboardInterrupt, ServerExited):
            raise
        except Exception as exc:
            reason = services.exited()
            if reason is None:
                raise
            log.info(f"{reason}; then {type(exc).__name__}: {exc}".splitlines()[0])
            raise ServerExited(reason) from None

    def _measure(self, services: Services, workload, work_dir: Path, master) -> None:
        p = self.profile
        arms = run_plan.arms_to_run(p, self.skipped)
        workload.prepare(services.database_url)
        log.info(f"workload {workload.name} set up with {p.table_rows} rows")
        parts = self._parts = RunParts.create(
            profile=p,
            folder=self.folder,
            services=services,
            work_dir=work_dir,
            run_start_ns=time.monotonic_ns(),
            loadgen_master=master,
        )
        try:
            self._facts.update(run_facts.environment(p, services, parts.server_stats, parts.sampler.interval_s))
            if neighbours := other_bench_runs():
                self._facts["caveats"].append(neighbour_caveat(neighbours))
                self.observer.notice(neighbour_caveat(neighbours), "neighbour")
            self._write_run_json()
            parts.begin()
            parts.agents = remote_parts.agent_directory(
                p, services.control_url, self.folder.run_id, work_dir, self.observer
            )
            processes = p.worker_processes * (p.external_workers if parts.agents else 1)
            steps = self._steps = StepRunner(p, self.folder, parts.run_start_ns, processes, self.observer)
            for distance_index, rtt_ms in enumerate(p.distances()):
                with services.at_distance(rtt_ms) as near:
                    for entry in self._plan(parts, near, arms, steps, processes):
                        with near.pgbouncer_for(entry.architecture, p.pgbouncer_binary_of(entry.arm)) as served:
                            run_arm(
                                parts,
                                served,
                                entry.arm,
                                entry.architecture,
                                distance_index,
                                steps,
                                entry.rates,
                                entry.first_step,
                                entry.search,
                                entry.ceiling_tasks,
                            )
            if p.pgbench_check:
                self._facts["crosscheck"] = run_facts.pgbench_check(p, services, workload, self.observer)
        finally:
            remote_parts.release(parts.agents, master, self.folder.logs)
            parts.stop()

    def _plan(
        self, parts: RunParts, services: Services, arms: list, steps: StepRunner, processes: int
    ) -> list[run_plan.ArmPlan]:
        """The profile's arms and rates, or with `probe` (one distance only) what the probe chose for
        the arms after the recipe, which the probe's session of it has measured already."""
        if not self.profile.probe:
            return run_plan.profile_plan(arms, self.profile.rates, self.profile)
        return run_plan.probed_plan(parts, services, arms, steps, processes, self.observer, self._record_probe)

    def _record_probe(self, facts: dict) -> None:
        self._facts["probe"] = facts
        self._write_run_json()

    def _write_run_json(self) -> None:
        parts, steps = self._parts, self._steps
        self.folder.write_run_json(
            {
                "run_id": self.folder.run_id,
                "status": self.status,
                "started_at": self._started.isoformat(),
                "ended_at": None if self.status == "running" else dt.datetime.now().astimezone().isoformat(),
                "profile": self.profile.redacted(),
                "steps_finished": len(self.rows),
                "failure": self.failure,
                **self._facts,
                "skipped": [{"arm": label, "reason": why} for label, why in self.skipped.items()],
                "outages": [o.as_dict(parts.run_start_ns) for o in parts.outages.outages] if parts else [],
                "clock_offsets": steps.clock_offsets if steps else [],
            }
        )
