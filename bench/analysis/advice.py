"""The decision: up to what rate the NullPool recipe is fine here, what limits it, and where to go next.

An architecture's sustainable rate is the highest offered rate at which, in that step and every
lower one: achieved throughput stays within 2 % of offered (of the arrivals actually scheduled), p99 latency stays under the SLO, no task
fails or is lost, and peak connections stay within the connection budget. The limit that bound it
is whichever of those the next rate step broke. Everything is derived from the results files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.analysis.adoption import adoption_lines, adoption_of, best_by_class, probe_lines, skipped_lines
from bench.analysis.bursts import burst_lines, burst_summary
from bench.analysis.costs import cost_rows, marginal_costs
from bench.analysis.model import MODEL_TOLERANCE, ROLE_WORDS, model_report
from bench.analysis.plan import Budget, plan
from bench.analysis.verdict import target_section
from bench.probes.core_speed import ANY_CORE
from bench.analysis.ways_out import (
    and_words,
    CLEAR,
    NO_CEILING,
    ONLY,
    SPREAD_UNKNOWN,
    Leaders,
    ceiling_words,
    held_leaders,
    leaders_words,
)
from bench.analysis.rules import ASYNC_QUEUE, PGBOUNCER, PGBOUNCER_DISCARD, PGBOUNCER_NAIVE, RECIPE, trap_labels
from bench.services.pgbouncer import MAX_PREPARED_STATEMENTS
from bench.record.schema import FOREIGN_LIMIT_PERCENT
from bench.record.limits import RESERVED_CONNECTIONS, THROUGHPUT_TOLERANCE, Limits, broken_limits
from bench.settings.arms import architecture_of
from bench.record.results import RunData
from bench.record.stats import Spread


@dataclass
class Sustainable:
    architecture: str
    rate_per_s: float | None
    """Highest sustainable offered rate tested; None when even the lowest step broke a limit."""
    bound_by: list[str] = field(default_factory=list)
    """Limits broken at `failed_at_per_s`: throughput, latency, errors, connections. Empty: none broke."""
    failed_at_per_s: float | None = None
    saturation_throughput_per_s: float | None = None
    """Median drain rate of the "max" steps, when the run had them."""
    saturation_min_per_s: float | None = None
    saturation_max_per_s: float | None = None
    saturation_runs: int = 0
    saturation_bound_role: str = ""
    """The role whose CPU set ran out in the "max" steps (most of them), when roles were pinned."""
    saturation_cpu_sets: list = field(default_factory=list)
    """With roles pinned: how busy each CPU set was in the first saturation step (cpu_sets.csv rows)."""
    """How busy each pinned CPU set was in the first "max" step ("0=74;1=86", percent), when roles were pinned."""
    disturbed_steps: int = 0
    """Its steps left out because processes not bench's took CPU beside them (steps.csv's `disturbed`)."""

    @property
    def drain(self) -> Spread | None:
        median, low, high = self.saturation_throughput_per_s, self.saturation_min_per_s, self.saturation_max_per_s
        if median is None or low is None or high is None:  # set together, from the run's drains (limits_for)
            return None
        return Spread(median, low, high, self.saturation_runs)


def limits_for(
    run: RunData,
    slo_p99_ms: float | None = None,
    connection_budget: int | None = None,
    target_rate: float | None = None,
    headroom: float | None = None,
) -> Limits:
    """Limits from the arguments, else the run's profile, else the defaults (budget: the server's
    max_connections less what is reserved)."""
    slo = slo_p99_ms or run.setting("slo_p99_ms")
    budget = connection_budget or run.setting("connection_budget")
    if not budget:
        budget = (
            int(run.meta.get("server", {}).get("max_connections") or run.setting("max_connections"))
            - RESERVED_CONNECTIONS
        )
    target = target_rate or run.setting("target_rate")
    return Limits(
        float(slo), int(budget), float(target) if target else None, float(headroom or run.setting("headroom"))
    )


def sustainable_rate(run: RunData, architecture: str, limits: Limits) -> Sustainable:
    by_rate: dict[float, list[dict]] = defaultdict(list)
    for row in run.steps:
        # An unsteady step drained a backlog while measured, a disturbed one shared the machine with another
        # process: neither says what the architecture does at the rate it ran at.
        if (
            row["architecture"] == architecture
            and not row.get("saturation")
            and not row.get("unsteady")
            and not row.get("disturbed")
        ):
            by_rate[row["offered_rate_per_s"]].append(row)
    result = Sustainable(architecture, None)
    result.disturbed_steps = sum(1 for row in run.steps if row["architecture"] == architecture and row.get("disturbed"))
    drain = run.saturation(architecture)
    if drain:
        result.saturation_throughput_per_s, result.saturation_min_per_s = drain.median, drain.low
        result.saturation_max_per_s, result.saturation_runs = drain.high, drain.count
        roles = Counter(
            r["bound_role"]
            for r in run.steps
            if r["architecture"] == architecture and r.get("saturation") and r.get("bound_role")
        )
        result.saturation_bound_role = roles.most_common(1)[0][0] if roles else ""
        result.saturation_cpu_sets = next(
            (
                sets
                for r in run.steps
                if r["architecture"] == architecture and r.get("saturation") and (sets := run.side("cpu_sets", r))
            ),
            [],
        )
    for rate in sorted(by_rate):
        # Every repetition of a step must hold the limits.
        broken = sorted({b for row in by_rate[rate] for b in broken_limits(row, limits)}, key=_ORDER.index)
        if broken:
            result.bound_by, result.failed_at_per_s = broken, rate
            break
        result.rate_per_s = rate
    return result


_ORDER = ["throughput", "latency", "errors", "connections"]


def advise(run: RunData, limits: Limits) -> dict:
    """advice.json: per architecture its sustainable rate and limit, the crossover and the text. A run
    that stepped through several distances is advised on at its first, then each distance is set
    beside the capacity model's prediction for it."""
    whole, run = run, run.at_distance(run.distances[0])
    results = {arch: sustainable_rate(run, arch, limits) for arch in run.architectures}
    advice: dict[str, Any] = {
        "run_id": run.run_id,
        "limits": asdict(limits),
        "throughput_tolerance": THROUGHPUT_TOLERANCE,
        "architectures": {a: asdict(s) for a, s in results.items()},
    }
    recipe = results.get(RECIPE)
    # The recipe on another broker (prefork-nullpool@rabbitmq) is still the recipe, not a way out of it.
    # Listed by ceiling, then rate, for reading; which is best is `leaders`' to say, from the ranges.
    alternatives = sorted(
        (s for a, s in results.items() if architecture_of(a) != RECIPE and a not in trap_labels(run)),
        key=lambda s: (s.saturation_throughput_per_s or 0, s.rate_per_s or 0),
        reverse=True,
    )
    found = held_leaders(alternatives)
    advice["crossover_rate_per_s"] = recipe.rate_per_s if recipe else None
    advice["recommended"] = found.one.architecture if found.one else None
    advice["about_equal"] = [s.architecture for s in found.top] if len(found.top) > 1 else []
    advice["by_adoption"] = best_by_class(run, results)
    advice["bursts"] = burst_summary(run)
    advice["text"] = (
        _text(run, results, alternatives, found, limits, advice["by_adoption"])
        + _statement_lines(run)
        + burst_lines(run)
        + _broker_lines(run)
        + _unsteady_lines(run)
        + _disturbed_lines(run)
        + skipped_lines(whole)
        + probe_lines(whole)
    )
    if limits.target_rate:
        ways = {
            a: s
            for a, s in results.items()
            if (architecture_of(a) != RECIPE and a not in trap_labels(run)) or a == RECIPE
        }
        section = target_section(ways, RECIPE, limits.target_rate, limits.headroom, _adoption_class)
        advice["target"], advice["verdict"] = section, section["verdict"]
        advice["text"] = section["lines"] + advice["text"]
    rate = float(run.setting("plan_rate_per_s"))
    needs = plan(run, rate, Budget(connections=limits.connection_budget))
    advice["plan"] = {"rate_per_s": rate, "needs": [asdict(n) for n in needs]}
    advice["costs"] = cost_rows(run.steps, run.architectures)
    advice["model"] = model_report(whole) or {}
    if advice["model"]:
        advice["text"].append(_model_line(advice["model"]))
    if len(whole.distances) > 1:
        first = whole.distances[0]
        advice["text"].insert(0, f"At rtt {first:g} ms (the run's first distance):")
        advice["text"] += _distance_lines(whole, advice["model"].get("distances") or [])
    return advice


def _model_line(m: dict) -> str:
    """The model's prediction beside the recipe's measured drains: their median, or, where the drains
    spread wider than the model is held to, their range."""
    line = (
        f"Capacity model of {RECIPE}: predicts {m['predicted_saturation_per_s']:.0f} tasks/s at saturation "
        f"(bound by {m['bound_by']}{_speed_words(m['components'].get('core_speed_change') or {})})"
    )
    if not m.get("measured_drains"):
        return line + "."
    low, high, median = m["measured_low_per_s"], m["measured_high_per_s"], m["measured_saturation_per_s"]
    drains = m["measured_drains"]
    line += (
        f"; measured {median:.0f} ({low:.0f}–{high:.0f}) tasks/s over {drains} drains"
        if drains > 1
        else f"; measured {median:.0f} tasks/s in one drain"
    )
    error = f"{100 * abs(m['prediction_error']):.0f} % {'above' if m['prediction_error'] > 0 else 'below'} {'the median' if drains > 1 else 'it'}"
    tolerance = f"{100 * MODEL_TOLERANCE:.0f} %"
    if m["drains_spread_wide"]:
        where = "inside" if m["inside_measured_range"] else "outside"
        compared = (
            f": the drains spread {100 * (high - low) / median:.0f} % of their median, wider than the {tolerance} "
            f"the model is held to, so the range is what it is compared with: the prediction lies {where} it ({error})."
        )
    else:
        where = "within" if m["within_tolerance"] else "outside"
        compared = f": the prediction is {error}, {where} the {tolerance} the model is held to."
    return line + compared + _demand_words(m)


def _demand_words(m: dict) -> str:
    """What a task took of the bounding CPU set in the drains against what the model took from the rate
    steps, where that differs by SPEED_NOTED or more; and, where the prediction errs the same way, that
    this is why (a set that was not the bound in the drains can differ without moving it)."""
    bound = m["bound_by"]
    model, drains = m["demand_ms"].get(bound), m["drain_demand_ms"].get(bound)
    if not model or drains is None or abs(drains / model - 1) < SPEED_NOTED:
        return ""
    change = drains / model - 1
    words = (
        f" In the drains a task took {drains:.1f} ms of {bound}, against the {model:.1f} the model took from "
        f"the rate steps' slope ({100 * change:+.0f} %)"
    )
    if (change < 0) == (m["prediction_error"] < 0):
        cost, side = ("less", "below") if change < 0 else ("more", "above")
        return (
            words
            + f": a task costs {cost} once the queue never empties, which no rate step shows, so the prediction is {side}."
        )
    return words + "."


SPEED_NOTED = 0.05
"""A change of the cores' speed between the rate steps and the drains worth a word in the model line."""


def _speed_words(change: dict[str, float]) -> str:
    """How much slower or faster each CPU set ran in the drains than in the rate steps, where that moved
    the costs by SPEED_NOTED or more."""
    moved = [
        f"{'the cores' if label == ANY_CORE else f'CPU {label}'} {100 * abs(f - 1):.0f} % {'slower' if f > 1 else 'faster'}"
        for label, f in sorted(change.items())
        if abs(f - 1) >= SPEED_NOTED
    ]
    if not moved:
        return ""
    return f"; {', '.join(moved)} in the drains than in the rate steps, by bench's core-speed probe, which the model does not correct for"


def _distance_lines(run: RunData, table: list[dict]) -> list[str]:
    """Each distance: the recipe's connect and task time and drain rate beside the model's, then every
    architecture's drain rate across the distances."""
    lines = []
    for row in table[1:]:
        parts = []
        for what, words in (("connect", "connects in"), ("exec", "runs a task in")):
            value, trips = row[f"{what}_p50_ms"], row[f"{what}_round_trips_measured"]
            if value is not None:
                counted = row["connect_round_trips" if what == "connect" else "task_round_trips"]
                parts.append(
                    f"{words} {value:.1f} ms (model {row[f'predicted_{what}_p50_ms']:.1f}: "
                    f"{trips:.1f} round trips measured, {counted} counted)"
                )
        if row["measured_saturation_per_s"]:
            parts.append(
                f"drains {row['measured_saturation_per_s']:.0f} tasks/s (model "
                f"{row['predicted_saturation_per_s']:.0f}, {100 * row['saturation_error']:+.0f} %)"
            )
        lines.append(f"At rtt {row['rtt_ms']:g} ms {RECIPE} " + ", ".join(parts) + ".")
    for arch in run.architectures:
        drains = [
            f"{spread}/s at {rtt:g} ms"
            for rtt in run.distances
            if rtt is not None and (spread := run.at_distance(rtt).saturation(arch))
        ]
        if drains:
            lines.append(f"{arch} drains {', '.join(drains)} (median, min–max).")
    return lines


def _text(
    run: RunData,
    results: dict[str, Sustainable],
    alternatives: list[Sustainable],
    found: Leaders,
    limits: Limits,
    by_adoption: dict[str, dict],
) -> list[str]:
    recipe = results.get(RECIPE)
    if recipe is None:
        return [f"This run did not measure {RECIPE}, so it cannot say when to leave it.", *_trap_lines(run)]
    lines = [_recipe_line(recipe, limits), *_cost_line(run, recipe), *_crosscheck_line(run)]
    # Each arm is set against the recipe on its own broker where the run measured that.
    recipes = {run.broker_of(a): s for a, s in results.items() if architecture_of(a) == RECIPE}
    default_broker = run.broker_of(RECIPE)

    def against(s: Sustainable) -> str:
        broker = run.broker_of(s.architecture)
        if broker != default_broker and broker in recipes:
            return _gain(s, recipes[broker], f" on {broker}")
        return _gain(s, recipe)

    lines += adoption_lines(by_adoption)
    if alternatives:
        lines.append(_leaders_line(found))
        lines += [f"{s.architecture}: {_rate_phrase(s)}{against(s)}." for s in alternatives]
    for broker, other in recipes.items():
        if other is not recipe:
            lines.append(f"{other.architecture} (the recipe on {broker}): {_rate_phrase(other)}{_gain(other, recipe)}.")
    return lines + _trap_lines(run)


def _trap_lines(run: RunData) -> list[str]:
    """Why each trap is no way out; and where asyncpg's defaults ran behind a PgBouncer that tracks
    prepared statements (1.21+), what they did there: that arm is then judged as a way out."""
    lines = [
        f"{trap} is not an option: {_trap_phrase(run, trap)}" for trap in run.architectures if trap in trap_labels(run)
    ]
    for label in run.architectures:
        if architecture_of(label) != PGBOUNCER_NAIVE or label in trap_labels(run):
            continue
        versions = sorted({str(r["pgbouncer_version"]) for r in run.steps if r["architecture"] == label})
        lines.append(
            f"{label} (asyncpg's defaults, only the URL changed) through PgBouncer {', '.join(versions)}, which "
            f"tracks prepared statements in transaction pooling (max_prepared_statements = {MAX_PREPARED_STATEMENTS}): "
            f"{_trap_phrase(run, label)}"
        )
    return lines


def _adoption_class(label: str) -> str:
    from bench.architectures import get_architecture

    return get_architecture(label).adoption


def _leaders_line(found: Leaders) -> str:
    """Which way out goes furthest, said as surely as the measurements allow."""
    if not found.top:
        return "Beyond that, no way out held a rate tested."
    first = found.top[0]
    if found.how == CLEAR:
        return (
            f"Beyond that, the fastest way out here is {first.architecture} ({adoption_of(first.architecture)}): "
            f"its {ceiling_words(first)} lies clear of every other's range."
        )
    if found.how == SPREAD_UNKNOWN:
        return (
            f"Beyond that, the highest ceiling here is {first.architecture}'s ({adoption_of(first.architecture)}), "
            f"from single drains: their spread is unknown, so it is not shown to be the fastest."
        )
    if found.how in (NO_CEILING, ONLY):
        rate = f"at least {first.rate_per_s:g}/s" if not first.bound_by else f"{first.rate_per_s:g}/s"
        return (
            f"Beyond that, move to {first.architecture} ({adoption_of(first.architecture)}), the only way out "
            f"measured that sustains {rate}{f', {ceiling_words(first)}' if first.drain else ''}."
        )
    # "each keeps the async code" where they share a class; else what each asks, as before.
    classes = {_adoption_class(s.architecture) for s in found.top}
    each = classes.pop() if len(classes) == 1 else and_words([adoption_of(s.architecture) for s in found.top])
    return f"Beyond that, about equal at the top: {leaders_words(found)}; each {each}."


def _disturbed_lines(run: RunData) -> list[str]:
    """The steps that shared the machine with processes not bench's (a neighbour): left out."""
    rows = [r for r in run.steps if r.get("disturbed")]
    if not rows:
        return []
    steps = [
        f"{r['architecture']} at {_step_words(r)} ({r['foreign_cpu_percent']:.0f} %"
        + (", beside another bench run)" if r.get("neighbour_runs") else ")")
        for r in rows
    ]
    why = (
        f"processes not bench's used more than {FOREIGN_LIMIT_PERCENT:g} % of a core beside them (foreign_cpu_percent)"
    )
    if any(r.get("neighbour_runs") for r in rows):
        why += " or another bench run was active (neighbour_runs)"
    return [
        f"Disturbed, so left out (neither held nor broken, no ceiling): {', '.join(steps)}: {why}; run them again "
        f"on a quiet machine."
    ]


def _step_words(row: dict) -> str:
    if row.get("saturation"):
        return f"max (run {int(row['repetition']) + 1})"
    return f"{row['offered_rate_per_s']:g}/s"


def _unsteady_lines(run: RunData) -> list[str]:
    """The steps that began on a backlog (their latency fell across the measured part): left out."""
    steps = [f"{r['architecture']} at {r['offered_rate_per_s']:g}/s" for r in run.steps if r.get("unsteady")]
    if not steps:
        return []
    return [
        f"Unsteady, so neither held nor broken here: {', '.join(steps)} (a backlog drained while measured; "
        f"raise warmup_max_seconds)."
    ]


def _broker_lines(run: RunData) -> list[str]:
    """Where the run measured an architecture on more than one broker: the brokers' CPU per task side by
    side, at the lowest rate and at saturation (the first run of each); and that taskiq stayed on Redis."""
    by_architecture: dict[str, dict[str, str]] = defaultdict(dict)
    for label in run.architectures:
        by_architecture[architecture_of(label)][run.broker_of(label)] = label
    lines = []
    for architecture, labels in by_architecture.items():
        if len(labels) < 2:
            continue
        for words, pick in (("at the lowest rate", _lowest_rate_row), ("at saturation", _first_saturation_row)):
            parts = [
                f"{broker} {row['broker_cpu_ms_per_task']:.2f} ms"
                for broker, label in labels.items()
                if (row := pick(run, label)) and row.get("broker_cpu_ms_per_task") is not None
            ]
            if len(parts) > 1:
                lines.append(f"Broker CPU per task of {architecture} {words}: {', '.join(parts)} (one run each).")
    brokers = {run.broker_of(a) for a in run.architectures}
    if "rabbitmq" in brokers and any(architecture_of(a) == ASYNC_QUEUE for a in run.architectures):
        lines.append(f"{ASYNC_QUEUE} (taskiq) ran on Redis: bench runs taskiq on its Redis broker only.")
    return lines


def _lowest_rate_row(run: RunData, label: str) -> dict | None:
    rows = [r for r in run.steps if r["architecture"] == label and not r.get("saturation")]
    return min(rows, key=lambda r: r["offered_rate_per_s"], default=None)


def _first_saturation_row(run: RunData, label: str) -> dict | None:
    return next((r for r in run.steps if r["architecture"] == label and r.get("saturation")), None)


def _statement_lines(run: RunData) -> list[str]:
    """What the PgBouncer architectures leave on PgBouncer's server connections (their last step), and
    what dropping it with DISCARD ALL costs per task, where the run measured both."""
    last = {}
    for row in run.steps:
        if row.get("server_statements_max") is not None:
            last[row["architecture"]] = row
    lines = []
    run_version = (run.meta.get("versions") or {}).get("pgbouncer")  # recorded since 2026-12-04
    for arch, row in last.items():
        version = row.get("pgbouncer_version") or run_version  # each arm's, recorded since 2026-12-05
        pgbouncer = f"PgBouncer {version}'s" if version else "PgBouncer's"
        memory = (
            f", backends of {row['server_backend_uss_mb']:.1f} MB private memory each"
            if row.get("server_backend_uss_mb") is not None
            else ""
        )
        stay = (
            "; they stay until PgBouncer closes the connection (server_lifetime, an hour by default)"
            if row["server_statements_max"]
            else ""
        )
        lines.append(
            f"{arch}: after its last step {pgbouncer} server connections held {row['server_statements_mean']:.0f} "
            f"prepared statement{'' if round(row['server_statements_mean']) == 1 else 's'} each "
            f"(at most {row['server_statements_max']:.0f}){memory}{stay}."
        )
    kept, dropped = last.get(PGBOUNCER), last.get(PGBOUNCER_DISCARD)
    if kept and dropped:
        costs = [
            f"{words} {dropped[column] - kept[column]:+.2f} ms"
            for column, words in (
                ("db_cpu_ms_per_task", "database CPU"),
                ("pgbouncer_cpu_ms_per_task", "PgBouncer CPU"),
                ("exec_p50_ms", "task time p50"),
            )
            if dropped.get(column) is not None and kept.get(column) is not None
        ]
        lines.append(
            f"DISCARD ALL after every transaction ({PGBOUNCER_DISCARD}) drops them; per task it cost "
            f"{', '.join(costs)} (its last step against {PGBOUNCER}'s, one run each)."
        )
    return lines


def _recipe_line(recipe: Sustainable, limits: Limits) -> str:
    limits_text = f"p99 under {limits.slo_p99_ms:g} ms, within {limits.connection_budget} connections"
    if recipe.rate_per_s is None and recipe.failed_at_per_s is None:
        return f"{RECIPE}: {_rate_phrase(recipe)}."
    if recipe.rate_per_s is None:
        return (
            f"{RECIPE} did not hold the limits ({limits_text}) even at the lowest rate tested "
            f"({recipe.failed_at_per_s:g}/s): {_limit_words(recipe.bound_by)}."
        )
    if not recipe.bound_by:
        ceiling = (
            f"; it cannot go past {recipe.drain} tasks/s, what its workers drain at saturation{_bound_words(recipe)}"
            if recipe.drain
            else ""
        )
        return (
            f"{RECIPE} is fine up to at least {recipe.rate_per_s:g} tasks/s on this setup ({limits_text}), "
            f"the highest rate tested{ceiling}."
        )
    return (
        f"{RECIPE} is fine up to {recipe.rate_per_s:g} tasks/s on this setup ({limits_text}); at "
        f"{recipe.failed_at_per_s:g}/s it broke: {_limit_words(recipe.bound_by)}."
    )


def _cost_line(run: RunData, recipe: Sustainable) -> list[str]:
    rows = [
        r
        for r in run.steps
        if r["architecture"] == RECIPE
        and not r.get("saturation")
        and r["offered_rate_per_s"] == (recipe.rate_per_s or recipe.failed_at_per_s)
    ]
    if not rows or rows[0]["connect_p50_ms"] is None or rows[0]["exec_p50_ms"] is None:
        return []
    row = rows[0]
    line = (
        f"What limits it: each task spends {row['connect_p50_ms']:.1f} ms of its {row['exec_p50_ms']:.1f} ms "
        f"opening a connection ({100 * (row['connect_share'] or 0):.0f} % of task time)"
    )
    if recipe.drain:
        line += f", and its workers drain at most {recipe.drain} tasks/s"
    machine = row.get("machine_cpu_percent")
    cores = run.meta.get("host", {}).get("cpu_count")
    if machine is not None and cores:
        line += f" (the machine was {machine / cores:.0f} % busy at {row['offered_rate_per_s']:g}/s)"
    return [line + "."]


def _bound_words(s: Sustainable) -> str:
    if s.saturation_bound_role:
        return f" (bound by {ROLE_WORDS[s.saturation_bound_role]})"
    return _no_full_cpu_set(s)


def _no_full_cpu_set(s: Sustainable) -> str:
    """With roles pinned and no CPU set full, what bounds the drain is not CPU: say so, with the sets' fill."""
    if not s.saturation_cpu_sets:
        return ""
    sets = ", ".join(f"CPU {r['cpus']} {r['busy_percent']:.0f} %" for r in s.saturation_cpu_sets)
    return f" (no CPU set was full: {sets}; not CPU but the tasks' waiting limits it at this concurrency)"


def _crosscheck_line(run: RunData) -> list[str]:
    """The recipe's marginal database CPU per task beside pgbench -C's, when the run made one."""
    pgbench = (run.meta.get("crosscheck") or {}).get("pgbench")
    db = marginal_costs(run.steps, RECIPE).get("db")
    if not (pgbench and db):
        return []
    rates = [r["rate_per_s"] for r in pgbench["runs"]] if "runs" in pgbench else [pgbench["rate_per_s"]]
    pgbench_ms, method = pgbench["db_cpu_ms_per_transaction"], pgbench.get("method", "ratio at one rate")
    return [
        f"Database CPU per task of {RECIPE}: {db.ms_per_task:.2f} ms ({db.how()}); pgbench -C (libpq, a "
        f"connection per transaction) at {and_words([f'{r:g}/s' for r in rates])}: {pgbench_ms:.2f} ms "
        f"({'slope' if method == 'slope' else 'ratio'}) ({100 * (db.ms_per_task / pgbench_ms - 1):+.0f} %)."
    ]


def _rate_phrase(s: Sustainable) -> str:
    if s.rate_per_s is None and s.failed_at_per_s is None and s.disturbed_steps:
        phrase = f"nothing to judge: its {s.disturbed_steps} disturbed step(s) are left out"
    elif s.rate_per_s is None and s.failed_at_per_s is None:
        phrase = "measured at saturation only (add rate steps, e.g. --rates 50,100,max, for the rate it sustains)"
    elif s.rate_per_s is None:
        phrase = f"held no tested rate ({_limit_words(s.bound_by)} at {s.failed_at_per_s:g}/s)"
    elif s.bound_by:
        phrase = f"sustains {s.rate_per_s:g}/s (at {s.failed_at_per_s:g}/s: {_limit_words(s.bound_by)})"
    else:
        phrase = f"sustains at least {s.rate_per_s:g}/s (every rate tested)"
    if s.drain:
        runs = f", median of {s.drain.count} runs (min–max)" if s.drain.count > 1 else ""
        phrase += f", drains {s.drain} tasks/s at saturation{runs}"
        if s.saturation_bound_role:
            phrase += f", bound by {ROLE_WORDS[s.saturation_bound_role]}"
        else:
            phrase += _no_full_cpu_set(s)
    return phrase


def _gain(s: Sustainable, recipe: Sustainable, on: str = "") -> str:
    """How much further the alternative goes, stated only where the measurements tell them apart:
    with repeated saturation steps, when their min–max ranges do not overlap. `on`: " on rabbitmq"
    where the recipe it is set against ran on another broker than the run's default."""
    if s.drain and recipe.drain:
        ratio = f"{s.drain.median / recipe.drain.median:.1f}x the recipe's median drain rate{on}"
        if s.drain.count < 2 or recipe.drain.count < 2:
            return f", {ratio} (single saturation runs: their spread is unknown)"
        if s.drain.overlaps(recipe.drain):
            return f", no clear difference from the recipe's drain rate{on} (their min–max ranges overlap)"
        return f", {ratio}"
    if s.rate_per_s and recipe.rate_per_s:
        return f", {s.rate_per_s / recipe.rate_per_s:.1f}x the recipe's sustainable rate{on}"
    return ""


def _trap_phrase(run: RunData, architecture: str) -> str:
    rows = [r for r in run.steps if r["architecture"] == architecture]
    failed = sum(int(r["failed"] or 0) for r in rows)
    total = sum(int(r["enqueued"] or 0) for r in rows)
    errors = sorted({e["error"] for r in rows for e in run.side("errors", r)})
    return f"{failed} of {total} measured tasks failed ({', '.join(errors) or 'no errors'})."


def _limit_words(bound_by: list[str]) -> str:
    words = {
        "throughput": "throughput fell more than 2 % below the offered rate",
        "latency": "p99 over the SLO",
        "errors": "tasks failed",
        "connections": "peak connections over the budget",
    }
    return "; ".join(words[b] for b in bound_by)
