"""Which arms a run measures, and at which rates: the profile's, or with `probe = true` what a short
step of the recipe says fits the task (bench/run/arm_choice.py)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from bench.record.limits import profile_limits
from bench.architectures import Architecture, get_architecture
from bench.run.arm_choice import RECIPE_RATES, WAY_OUT_RATES, TaskShape, ceiling_tasks, choose_ways_out, rates_for
from bench.run.arm_session import ALL_RATES, RunParts, Search, arm_session
from bench.settings.arms import Arm
from bench.errors import BenchError
from bench.observer import RunObserver
from bench.services import Services
from bench.services.pgbouncer import GivenPgBouncer, pgbouncer_binary, pgbouncer_version
from bench.urls import redact_url
from bench.run.step_runner import StepRunner

log = logging.getLogger(__name__)

PROBE_RATE_PER_PROCESS = 2.0
"""The probe's rate per recipe process: low enough that tasks seldom queue (send_email's 140 ms tasks
keep two processes 28 % busy), so its median latency is one task's time."""


@dataclass(frozen=True)
class ArmPlan:
    arm: Arm
    architecture: Architecture
    rates: list
    first_step: int = 0
    search: Search = ALL_RATES
    """Whether a step can end the arm's session early (bench/run/arm_session.py)."""
    ceiling_tasks: int | None = None
    """With a number: the session first measures the arm's ceiling (saturation drains of this many
    tasks), then runs only those of `rates` it can drain (bench/run/arm_choice.py, rates_under_ceiling)."""


def arms_to_run(profile, skipped: dict[str, str]) -> list[tuple[Arm, Architecture]]:
    """The profile's arms and their architectures, less those skipped (their workload lacks the body)."""
    return [(arm, get_architecture(arm.architecture)()) for arm in profile.arms() if arm.label not in skipped]


def needs_pgbouncer(profile) -> bool:
    """Whether an architecture of the profile (the probe might choose any) runs behind PgBouncer."""
    return any(get_architecture(arm.architecture).pgbouncer for arm in profile.arms())


def pgbouncer_arms(profile, given: GivenPgBouncer | None = None) -> dict[str, dict[str, str]]:
    """The version and binary of the PgBouncer each arm behind PgBouncer runs behind, by label (the
    user's PgBouncer's version and URL, without password, for all where one is `given`); a BenchError
    in one line for a binary that is not PgBouncer, or one whose version is not the one its variant is
    named after (`prefork-nullpool-pgbouncer#1.18` runs behind a 1.18)."""
    arms = {}
    for arm in profile.arms():
        if not get_architecture(arm.architecture).pgbouncer:
            continue
        if given:
            arms[arm.label] = {"version": given.version, "url": redact_url(given.url)}
            continue
        binary = pgbouncer_binary(profile.pgbouncer_binary_of(arm))
        version = pgbouncer_version(binary)
        if re.fullmatch(r"\d+\.\d+(\.\d+)?", arm.variant) and not f"{version}.".startswith(f"{arm.variant}."):
            raise BenchError(f"{arm.label}: its PgBouncer {binary} is version {version}, not {arm.variant}")
        arms[arm.label] = {"version": version, "binary": binary}
    return arms


def _missing(value) -> bool:
    return value in (None, "") or value != value  # NaN


def profile_plan(arms: list[tuple[Arm, Architecture]], rates: list, profile=None) -> list[ArmPlan]:
    """The profile's rates for every arm; with a target rate, the target and target x headroom among them."""
    return [ArmPlan(arm, architecture, with_target(rates, profile)) for arm, architecture in arms]


def with_target(rates: list, profile) -> list:
    """`rates` with the profile's target and target x headroom added among its rates (kinds of step,
    "max" and "burst", after them as before)."""
    if profile is None or profile.target_rate is None:
        return rates
    numbers = sorted({*(r for r in rates if not isinstance(r, str)), *target_rates(profile)})
    return [*numbers, *(r for r in rates if isinstance(r, str))]


def target_rates(profile) -> list[float]:
    """The target and target x headroom, as rates (the latter rounded up to a tenth of a task/s)."""
    return sorted({profile.target_rate, math.ceil(profile.needed_rate() * 10) / 10})


def probed_plan(
    parts: RunParts,
    services: Services,
    arms: list[tuple[Arm, Architecture]],
    runner: StepRunner,
    processes: int,
    observer: RunObserver,
    on_probe: Callable[[dict], None],
) -> list[ArmPlan]:
    """Probe the first arm, the recipe, at a low rate (its step 0), and in the same session of its
    workers measure it at rates around the drain the probe estimates (steps 1, ...: rising, until one
    falls behind); return the plan of the rest: one way out per adoption class, at rates past the
    recipe's, falling until one is held. `on_probe` gets what run.json records of the probe, as soon
    as it is known."""
    (recipe, recipe_architecture), others = arms[0], arms[1:]
    profile = parts.profile
    probe_rate = PROBE_RATE_PER_PROCESS * processes
    with (
        services.pgbouncer_for(recipe_architecture, profile.pgbouncer_binary_of(recipe)) as served,
        arm_session(parts, served, recipe, recipe_architecture, 0, runner) as session,
    ):
        session.run([probe_rate])
        shape = _probed_shape(runner.rows[-1], recipe.label, probe_rate, parts, processes)
        chosen = choose_ways_out(shape, [(arm.label, type(architecture)) for arm, architecture in others])
        recipe_rates, way_out_rates = _recipe_rates(shape, probe_rate, profile), _way_out_rates(shape, profile)
        on_probe(_announce(shape, recipe.label, probe_rate, chosen, others, recipe_rates, way_out_rates, observer))
        session.run(recipe_rates, first_step=1, search=_recipe_search(shape, recipe_rates, profile))
        # The recipe's ceiling: how fast its warm workers drain a full queue, with the sender idle.
        ceiling_step = 1 + len(recipe_rates)
        session.run(
            ["max"],
            first_step=ceiling_step,
            saturation_tasks=ceiling_tasks(shape.drain_per_s, profile.saturation_tasks),
        )
        if profile.target_rate is not None and profile.target_rate not in recipe_rates:
            _recipe_at_target(session, runner, recipe.label, ceiling_step, profile)
    falling = Search(stop_when_held=profile_limits(profile))
    # A way out's ceiling is past the recipe's; sized for the higher of its rates and far past the recipe.
    tasks = ceiling_tasks(max(*way_out_rates, *rates_for(shape, WAY_OUT_RATES)), profile.saturation_tasks)
    return [
        ArmPlan(arm, architecture, sorted(way_out_rates, reverse=True), search=falling, ceiling_tasks=tasks)
        for arm, architecture in others
        if arm.label in chosen
    ]


def _recipe_rates(shape: TaskShape, probe_rate: float, profile) -> list[float]:
    """With a target the recipe may hold (not past its estimated drain), the target and target x
    headroom (the verdict's rates; the higher first where it likely holds it); else one rate below its
    estimated drain, and its ceiling decides whether it reaches the target (`_recipe_at_target`)."""
    if profile.target_rate is not None and profile.target_rate <= shape.drain_per_s:
        rates = target_rates(profile)
        return sorted(rates, reverse=_likely_held(shape, max(rates)))
    return rates_for(shape, RECIPE_RATES, above=probe_rate)


def _recipe_at_target(session, runner: StepRunner, label: str, ceiling_step: int, profile) -> None:
    """A target past the recipe's estimated drain: where even the fastest of its drains (two or more)
    fell short of it, the recipe cannot hold it (measured, without a rate step that breaks); otherwise it is run at
    the target and target x headroom after all, so the verdict rests on a measurement."""
    drain = runner.drain(label, ceiling_step)
    # The same rule the advice judges the recipe's ceiling by (a single drain says nothing of its spread).
    if drain and drain.below(profile.target_rate):
        log.info(f"{label}: its fastest drain, {drain.high:.0f}/s, is short of the target {profile.target_rate:g}/s")
        return
    session.run(target_rates(profile), first_step=ceiling_step + 1, search=Search(stop_when_behind=True))


LIKELY_HELD_SHARE = 0.7
"""A rate within this share of the recipe's estimated drain it likely holds: the estimate runs high (the
probe's tasks do not share the CPU; measured ceilings were 0.78-0.88 of it in four runs here), and a
rate is held up to about 0.9 of the ceiling."""


def _likely_held(shape: TaskShape, rate: float) -> bool:
    return rate <= LIKELY_HELD_SHARE * shape.drain_per_s


def _recipe_search(shape: TaskShape, rates: list[float], profile) -> Search:
    """Rates rising: no higher once one falls behind. Falling (a target the recipe likely holds): no
    lower once one is held, since a lower one would hold too."""
    if len(rates) > 1 and rates[0] > rates[-1]:
        return Search(stop_when_held=profile_limits(profile))
    return Search(stop_when_behind=True)


def _way_out_rates(shape: TaskShape, profile) -> list[float]:
    """With a target, target x headroom; else past the recipe's estimated drain and far past it."""
    if profile.target_rate is not None:
        return [target_rates(profile)[-1]]
    return rates_for(shape, WAY_OUT_RATES)


def _probed_shape(row: dict, label: str, probe_rate: float, parts: RunParts, processes: int) -> TaskShape:
    if not row.get("completed") or any(_missing(row.get(k)) for k in ("exec_p50_ms", "task_cpu_p50_ms")):
        raise BenchError(
            f"the probe of {label} at {probe_rate:g}/s completed no task to measure; "
            f"see {parts.folder.path / 'errors.csv'}, or set probe = false"
        )
    return TaskShape.from_row(row, processes)


def _falling(rates: list) -> str:
    """'520/s, then 210/s if that was not held'."""
    high, *lower = sorted(rates, reverse=True)
    return f"{high:g}/s" + "".join(f", then {r:g}/s if that was not held" for r in lower)


def _announce(
    shape: TaskShape,
    label: str,
    probe_rate: float,
    chosen: dict,
    others: list,
    recipe_rates: list,
    way_out_rates: list,
    observer: RunObserver,
) -> dict:
    """Log and show what the probe found and chose; return what run.json records of it."""
    kind = "mostly waits" if shape.waits else "mostly computes"
    summary = (
        f"probe: {label} takes {shape.task_ms:.1f} ms a task ({shape.connect_ms:.1f} connecting; "
        f"{shape.wait_share:.0%} of the rest off the workers' CPU: it {kind}), so drains about "
        f"{shape.drain_per_s:.0f}/s; measuring it at {', '.join(f'{r:g}' for r in recipe_rates)}/s, and "
        f"{', '.join(chosen)} at {_falling(way_out_rates)}"
    )
    log.info(summary)
    observer.notice(summary.removeprefix("probe: "), "probe")
    return {
        "rate_per_s": probe_rate,
        "shape": shape.as_dict(),
        "chosen": chosen,
        "left_out": [arm.label for arm, _ in others if arm.label not in chosen],
        "recipe_rates": recipe_rates,
        "way_out_rates": way_out_rates,
    }
