"""An arm's steps, one rate at a time: the warm-up, the step, its row (and its repetitions'), written
to the run folder as they finish."""

from __future__ import annotations

import logging
from collections.abc import Callable
import dataclasses

from bench.settings.config import STEP_KINDS, Profile
from bench.engines import application_name
from bench.errors import ServerExited
from bench.observer import RunObserver
from bench.probes.server_statements import held_statements
from bench.record.results import RunFolder
from bench.schedule import StepPlan
from bench.urls import broker_kind
from bench.record.stats import Spread, add_spread, summarize, take_side_rows, task_rows
from bench.loadgen import LoadGenerator
from bench.run.step import StepContext, run_step, start_loadgen
from bench.run.warmup import WarmUp, warm_plan, warm_up

log = logging.getLogger(__name__)

SATURATION_WARM_RATE_PER_PROCESS = 10.0
"""Tasks/s per worker process of the warm-up before a saturation step that is an arm's first."""


class StepRunner:
    """Runs steps and keeps what they measured: the rows (`rows`) and the clock offsets
    (`clock_offsets`), as run.json lists them."""

    def __init__(
        self, profile: Profile, folder: RunFolder, run_start_ns: int, processes: int, observer: RunObserver
    ) -> None:
        self.profile, self.folder, self.observer = profile, folder, observer
        self.run_start_ns = run_start_ns
        self.processes = processes
        """Worker processes of an arm, on every host."""
        self.rows: list[dict] = []
        self.clock_offsets: list[dict] = []
        self._ahead: tuple[StepPlan, LoadGenerator] | None = None
        """A load generator started while a step settled, for the schedule that follows it (a drain's
        next repetition, or the next rate step's warm-up): (that schedule, it)."""

    def run_rate(self, ctx: StepContext, index: int, rate, saturation_tasks: int | None = None, next_rate=None) -> None:
        """Repetitions of a step run back to back and are written together, with their spread; a step
        cut short by a dead server is written with those before it, and ends the run. A "max" step
        enqueues `saturation_tasks` (default: the profile's). `next_rate`: the rate of the step likely
        to follow (step `index` + 1), whose warm-up's load generator starts while this step settles."""
        rows, runs = [], self._repetitions(rate)
        for repetition in range(runs):
            plan = self._plan(index, rate, repetition, saturation_tasks)
            following = self._plan(index, rate, repetition + 1, saturation_tasks) if repetition + 1 < runs else None
            if following is None and next_rate is not None and next_rate not in STEP_KINDS:
                following = self._plan(index + 1, next_rate, 0)
            # The next step's load generator (a second of imports) starts while this one settles, once
            # every task of it is done: nothing else is measured then. A drain's repetition gets the
            # step's own; a rate step's, that of its warm-up.
            schedule = (
                following
                if following and plan.saturation and following.saturation
                else warm_plan(following, self.profile.warmup_max_seconds)
                if following and not plan.saturation and self._warms_up(following)
                else None
            )
            on_drained = (lambda s=schedule: self._start_ahead(ctx, s)) if schedule else None
            rows.append(self._run_one_step(ctx, plan, self._take_ahead(plan), on_drained))
            if rows[-1]["interrupted_by"]:
                break
        for row in rows:
            self.folder.append_side_tables(take_side_rows(row))
        add_spread(rows)
        self.folder.append_steps(rows)
        self.rows.extend(rows)
        if rows[-1]["interrupted_by"]:
            raise ServerExited(rows[-1]["interrupted_by"])

    @staticmethod
    def _warms_up(plan: StepPlan) -> bool:
        """A rate step (not a drain, not bursts) with a warm-up of its own."""
        return not plan.saturation and not plan.bursts and plan.warmup_s > 0

    def _start_ahead(self, ctx: StepContext, schedule: StepPlan) -> None:
        self.stop_ahead()
        if (loadgen := self._loadgen_ahead(ctx, schedule)) is not None:
            self._ahead = (schedule, loadgen)

    def _take_ahead(self, schedule: StepPlan) -> LoadGenerator | None:
        """The load generator started ahead for this schedule, if there is one."""
        if self._ahead and self._ahead[0] == schedule:
            loadgen, self._ahead = self._ahead[1], None
            return loadgen
        return None

    def stop_ahead(self) -> None:
        """Stop a load generator started for a schedule that will not run (the arm's rates ended)."""
        if self._ahead:
            self._ahead[1].stop()
            self._ahead = None

    def _warm_from_a_drain(self, ctx: StepContext, plan: StepPlan) -> bool:
        """A rate step right after its arm's saturation drain, which left every worker process warm and
        the queue empty (it ends once every task is done): a warm-up would add nothing but its time."""
        last = self.rows[-1] if self.rows else None
        return (
            not plan.saturation
            and not plan.bursts
            and last is not None
            and bool(last.get("saturation"))
            and last["architecture"] == ctx.worker_spec.arm_label
            and not last.get("lost")
            and len(ctx.warm_processes) >= self.processes
        )

    def drain(self, label: str, step: int) -> Spread | None:
        """The drain rates of an arm's "max" step (its repetitions): median and range, tasks/s."""
        return Spread.of(
            [
                r["throughput_per_s"]
                for r in self.rows
                if r["architecture"] == label
                and r["step"] == step
                and r.get("saturation")
                and r.get("throughput_per_s")
            ]
        )

    def _repetitions(self, rate) -> int:
        p = self.profile
        return p.saturation_repeat or p.repeat if rate == "max" else p.repeat

    def _plan(self, index: int, rate, repetition: int, saturation_tasks: int | None = None) -> StepPlan:
        p = self.profile
        if rate == "max":
            return StepPlan.saturation_step(index, saturation_tasks or p.saturation_tasks, p.random_seed, repetition)
        if rate == "burst":
            return StepPlan.burst_step(
                index, p.burst_tasks, p.burst_period_s, p.bursts_per_step(), p.random_seed, repetition
            )
        return StepPlan(
            index, float(rate), p.warmup_seconds, p.step_seconds, p.arrival, p.random_seed, repetition=repetition
        )

    def _label(self, ctx: StepContext, plan: StepPlan) -> str:
        rate = f"max ({plan.task_count} tasks)" if plan.saturation else f"{plan.rate_per_s:g}/s"
        if plan.bursts:
            rate = f"{plan.bursts} burst(s) of {plan.burst_tasks} every {plan.burst_period_s:g} s"
        if ctx.rtt_ms is not None:
            rate += f" at rtt {ctx.rtt_ms:g} ms"
        runs = self._repetitions("max" if plan.saturation else plan.rate_per_s)
        repeat = f" (run {plan.repetition + 1}/{runs})" if runs > 1 else ""
        return f"{ctx.worker_spec.arm_label} step {plan.index}: {rate}{repeat}"

    def _run_one_step(
        self,
        ctx: StepContext,
        plan: StepPlan,
        loadgen: LoadGenerator | None = None,
        on_drained: Callable[[], None] | None = None,
    ) -> dict:
        """One step (with `loadgen` if one was started for it); `on_drained` is called once its tasks are
        done, before it settles."""
        label = self._label(ctx, plan)
        warm = None
        after_drain = self._warm_from_a_drain(ctx, plan)
        if not plan.saturation and plan.warmup_s > 0 and after_drain:
            plan = dataclasses.replace(plan, warmup_s=0.0)
            log.info(f"{label}: no warm-up: every worker process is warm from the drain just before, its queue empty")
        elif not plan.saturation and plan.warmup_s > 0:
            plan = dataclasses.replace(plan, warmup_s=0.0)  # the step is measured from its first arrival
            loadgen = self._loadgen_ahead(ctx, plan)
            try:
                warm = self._warm_up(ctx, plan, label)
            except BaseException:
                if loadgen:
                    loadgen.stop()
                raise
        elif (
            (plan.saturation or plan.bursts)
            and self.profile.warmup_seconds > 0
            and len(ctx.warm_processes) < self.processes
        ):
            # A drain as the arm's first step would time cold workers (7 % slower for threads-pool here):
            # they are warmed at a modest rate first, as a rate step would have.
            rate = SATURATION_WARM_RATE_PER_PROCESS * self.processes
            loadgen = loadgen or self._loadgen_ahead(ctx, plan)
            try:
                warm = self._warm_up(
                    ctx,
                    dataclasses.replace(
                        plan, rate_per_s=rate, arrival="uniform", task_count=0, burst_tasks=0, measure_s=0.0
                    ),
                    label,
                )
            except BaseException:
                if loadgen:
                    loadgen.stop()
                raise
        with self.observer.progress(label) as progress:
            measurements = run_step(ctx, self.profile.workload, plan, progress, loadgen, on_drained)
        row = summarize(measurements)
        if warm:
            row.update(warmup_s=round(warm.seconds, 3), warmup_end=warm.reason)
        if row.get("unsteady"):
            log.info(f"{label}: unsteady: its latency fell across the measured part (a backlog drained in it)")
            self.observer.notice(
                f"{label}: its latency fell across the measured part; it counts neither as held nor as broken",
                "unsteady",
            )
        if (offsets := clock_offsets(row, measurements.loadgen_senders)) is not None:
            self.clock_offsets.append(offsets)
        row["rtt_ms"] = "" if ctx.rtt_ms is None else ctx.rtt_ms
        row["pgbouncer_version"] = ctx.pgbouncer_version or ""
        row["broker"] = broker_kind(ctx.worker_spec.broker_url)
        if ctx.worker_spec.pgbouncer_url and not row["interrupted_by"]:
            row.update(self._statements_held(ctx))
        self.folder.append_tasks(task_rows(measurements, self.run_start_ns))
        self._report(label, row)
        return row

    def _report(self, label: str, row: dict) -> None:
        log.info(f"finished {label}: completed={row['completed']} failed={row['failed']} lost={row['lost']}")
        self.observer.notice(
            f"{label}: {row['completed']} completed, {row['failed']} failed, p99 {row['latency_p99_ms']} ms", "done"
        )
        if row.get("agents_vanished"):
            self.observer.notice(
                f"during {label}: {row['agents_vanished']}; {row['lost']} task(s) lost", "bench worker(s) vanished"
            )

    @staticmethod
    def _loadgen_ahead(ctx: StepContext, plan: StepPlan) -> LoadGenerator | None:
        """The step's load generator, started before its warm-up so that its start (a second of
        imports and set-up) overlaps the warm-up; it waits, idle, for the step. Only a single process:
        a Locust master would sit a whole warm-up blocked on its start line, deaf to its workers'
        heartbeats, and load generators on other hosts join one master at a time."""
        if ctx.loadgen_master or ctx.loadgen_processes > 1:
            return None
        return start_loadgen(ctx, plan)

    def _warm_up(self, ctx: StepContext, plan: StepPlan, label: str) -> WarmUp:
        p = self.profile
        with self.observer.status(f"{label}: warming up"):
            started = self._take_ahead(warm_plan(plan, p.warmup_max_seconds))
            warm = warm_up(
                ctx, plan, p.warmup_seconds, p.warmup_max_seconds, self.processes, ctx.warm_processes, started
            )
        log.info(
            f"{label}: warm-up {warm.seconds:.2f} s ({warm.reason}), {warm.tasks} tasks on "
            f"{warm.processes} worker processes ({len(ctx.warm_processes)} of {self.processes} warm)"
        )
        return warm

    def _statements_held(self, ctx: StepContext) -> dict:
        """Prepared statements on PgBouncer's server connections after the step (empty if none are open)."""
        pgbouncer_url = ctx.worker_spec.pgbouncer_url
        assert pgbouncer_url is not None, "asked only of an architecture behind PgBouncer"
        held = held_statements(pgbouncer_url, ctx.database_url, application_name(ctx.worker_spec.architecture))
        if held is None:
            return {}
        log.info(f"{ctx.worker_spec.architecture}: {held}")
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in held.columns().items()}


def clock_offsets(row: dict, senders: dict[int, dict]) -> dict | None:
    """One step's clock offsets to bench's clock, where they were estimated: the workers' (records over
    the control channel) and each load generator process's (under a Locust master); None if neither."""
    entry = {"architecture": row["architecture"], "step": row["step"], "repetition": row["repetition"]}
    if row.get("clock_offset_ms") is not None:
        entry["workers"] = {"offset_ms": row["clock_offset_ms"], "uncertainty_ms": row["clock_uncertainty_ms"]}
    if senders:
        entry["loadgens"] = {
            str(index): {"offset_ms": s["clock_offset_ns"] / 1e6, "uncertainty_ms": s["clock_uncertainty_ns"] / 1e6}
            for index, s in sorted(senders.items())
        }
    return entry if "workers" in entry or "loadgens" in entry else None
