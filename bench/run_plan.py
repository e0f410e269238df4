"""Which arms a run measures, and at which rates: the profile's, or with `probe = true` what a short
step of the recipe says fits the task (bench/arm_choice.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench.architectures import get_architecture
from bench.arm_choice import RECIPE_RATES, WAY_OUT_RATES, TaskShape, choose_ways_out, rates_for
from bench.arm_session import RunParts, run_arm
from bench.arms import Arm
from bench.errors import BenchError
from bench.observer import RunObserver
from bench.services import Services
from bench.step_runner import StepRunner

log = logging.getLogger(__name__)

PROBE_RATE_PER_PROCESS = 2.0
"""The probe's rate per recipe process: low enough that tasks seldom queue (send_email's 140 ms tasks
keep two processes 28 % busy), so its median latency is one task's time."""


@dataclass(frozen=True)
class ArmPlan:
    arm: Arm
    architecture: object
    rates: list
    first_step: int = 0
    """Its first step's number (the recipe's rate steps follow its probe step)."""
    stop_when_behind: bool = False
    """Run no higher rate once a step fell behind its arrivals: it says nothing new, and draining its
    backlog costs the most time of a step."""


def arms_to_run(profile, skipped: dict[str, str]) -> list[tuple[Arm, object]]:
    """The profile's arms and their architectures, less those skipped (their workload lacks the body)."""
    return [(arm, get_architecture(arm.architecture)()) for arm in profile.arms() if arm.label not in skipped]


def needs_pgbouncer(profile) -> bool:
    """Whether an architecture of the profile (the probe might choose any) runs behind PgBouncer."""
    return any(get_architecture(arm.architecture).pgbouncer for arm in profile.arms())


def _missing(value) -> bool:
    return value in (None, "") or value != value  # NaN


def profile_plan(arms: list[tuple[Arm, object]], rates: list) -> list[ArmPlan]:
    return [ArmPlan(arm, architecture, rates) for arm, architecture in arms]


def probed_plan(parts: RunParts, services: Services, arms: list[tuple[Arm, object]], runner: StepRunner,
                processes: int, observer: RunObserver) -> tuple[list[ArmPlan], dict]:
    """Run the probe (the first arm, the recipe, at a low rate: its step 0), then plan the recipe and
    one way out per adoption class at rates around the recipe's estimated drain. Returns the plan and
    what run.json records of it."""
    (recipe, recipe_architecture), others = arms[0], arms[1:]
    probe_rate = PROBE_RATE_PER_PROCESS * processes
    run_arm(parts, services, recipe, recipe_architecture, 0, runner, rates=[probe_rate])
    row = runner.rows[-1]
    if not row.get("completed") or any(_missing(row.get(k)) for k in ("exec_p50_ms", "task_cpu_p50_ms")):
        raise BenchError(f"the probe of {recipe.label} at {probe_rate:g}/s completed no task to measure; "
                         f"see {parts.folder.path / 'errors.csv'}, or set probe = false")
    shape = TaskShape.from_row(row, processes)
    chosen = choose_ways_out(shape, [(arm.label, type(architecture)) for arm, architecture in others])
    recipe_rates, way_out_rates = rates_for(shape, RECIPE_RATES, above=probe_rate), rates_for(shape, WAY_OUT_RATES)
    plan = [ArmPlan(recipe, recipe_architecture, recipe_rates, first_step=1, stop_when_behind=True)]
    plan += [ArmPlan(arm, architecture, way_out_rates, stop_when_behind=True)
             for arm, architecture in others if arm.label in chosen]
    kind = "mostly waits" if shape.waits else "mostly computes"
    summary = (f"probe: {recipe.label} takes {shape.task_ms:.1f} ms a task ({shape.connect_ms:.1f} connecting; "
               f"{shape.wait_share:.0%} of the rest off the workers' CPU: it {kind}), so drains about "
               f"{shape.drain_per_s:.0f}/s; measuring {', '.join(chosen)} at "
               f"{', '.join(f'{r:g}' for r in way_out_rates)}/s beside it at {', '.join(f'{r:g}' for r in recipe_rates)}/s")
    log.info(summary)
    observer.notice(summary.removeprefix("probe: "), "probe")
    facts = {"rate_per_s": probe_rate, "shape": shape.as_dict(), "chosen": chosen,
             "left_out": [arm.label for arm, _ in others if arm.label not in chosen],
             "recipe_rates": recipe_rates, "way_out_rates": way_out_rates}
    return plan, facts
