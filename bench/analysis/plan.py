"""The answer in production terms: what a rate R would need of each role, from the measured per-task costs.

For each architecture measured in a run, at rate R (tasks/s):
- worker cores = R × worker CPU ms per task / 1000; database and broker cores the same way;
- worker processes = R × E / 1000 / (tasks a process runs at once), with E the task's execution time
  (for the recipe, E grows by the model's round trips × `rtt_ms`; for the others, by the 3 statement
  round trips of a pooled connection, 4 for the PgBouncer ones, which prepare anew each time), and never fewer than the worker cores (one Python process
  uses one core at most);
- connections held: NullPool ones live for about a task's execution, so R × E / 1000 (Little's law);
  a pool holds min(pool_size, tasks at once) per process;
- connections opened per second = R × sessions per task, the lowest any step measured (a pool opens
  its connections once, in the first step).
The CPU costs are the marginal ones, the slope of each role's CPU over the rates that kept up
(bench/analysis/costs.py: what one more task costs, without the fixed burn of idle processes and
bench's own sampler), else the "max" step's ratio; E comes from the step nearest to saturation that
still kept up, else from the "max" step. A role fits when its need is within the
budget given; the recipe's limit is the rate at which it first needs more of some role than that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.analysis.costs import marginal_costs
from bench.analysis.model import POOLED_ROUND_TRIPS, STATEMENT_ROUND_TRIPS, task_round_trips
from bench.analysis.rules import RECIPE, RECIPE_PSYCOPG, trap_labels
from bench.record.limits import kept_up
from bench.settings.arms import architecture_of
from bench.record.results import RunData


@dataclass(frozen=True)
class Budget:
    db_cores: float | None = None
    worker_cores: float | None = None
    broker_cores: float | None = None
    connections: int | None = None
    """Connections the database can give the workers (max_connections less what is reserved)."""


@dataclass
class Need:
    architecture: str
    rate_per_s: float
    worker_processes: int
    worker_cores: float
    db_cores: float
    broker_cores: float
    connections_held: float
    connections_opened_per_s: float
    short_of: list[str]
    """Roles the budget does not cover at this rate: worker cores, db cores, broker cores, connections."""
    max_rate_per_s: float | None
    """The highest rate the budget allows, and `limited_by` the role that sets it."""
    limited_by: str | None


@dataclass
class Costs:
    """Per-task figures of one architecture, from one step."""

    worker_cpu_ms: float
    db_cpu_ms: float
    broker_cpu_ms: float
    exec_ms: float
    sessions_per_task: float
    step_label: str
    rtt_ms: float = 0.0
    """The delay proxy's round trip of that step (0 without one)."""


def costs(run: RunData, architecture: str) -> Costs | None:
    # A disturbed step's CPU per task is partly a neighbour's scheduling: none of its figures is used.
    rows = [r for r in run.steps if r["architecture"] == architecture and not r.get("disturbed")]
    kept = sorted((r for r in rows if not r.get("saturation") and kept_up(r)), key=lambda r: r["offered_rate_per_s"])
    row = kept[-1] if kept else next((r for r in rows if r.get("saturation")), None)
    if row is None or row.get("worker_cpu_ms_per_task") is None or row.get("exec_p50_ms") is None:
        return None
    label = "max" if row.get("saturation") else f"{row['offered_rate_per_s']:g}/s"
    sessions = min((r["sessions_per_task"] for r in rows if r.get("sessions_per_task") is not None), default=0.0)
    marginal = marginal_costs(run.steps, architecture) if kept else {}

    def cost(role: str, column: str) -> float:
        return marginal[role].ms_per_task if role in marginal else row.get(column) or 0.0

    return Costs(
        cost("workers", "worker_cpu_ms_per_task"),
        cost("db", "db_cpu_ms_per_task"),
        cost("broker", "broker_cpu_ms_per_task"),
        row["exec_p50_ms"],
        sessions,
        label,
        row.get("rtt_ms") or 0.0,
    )


def plan(run: RunData, rate_per_s: float, budget: Budget, rtt_ms: float | None = None) -> list[Need]:
    """Needs of every architecture but the traps, from the run's first distance where it has several."""
    run = run.at_distance(run.distances[0])
    return [
        need
        for arch in run.architectures
        if arch not in trap_labels(run)
        if (need := plan_one(run, arch, rate_per_s, budget, rtt_ms)) is not None
    ]


def plan_one(
    run: RunData, architecture: str, rate_per_s: float, budget: Budget, rtt_ms: float | None = None
) -> Need | None:
    """`rtt_ms`: the database's distance to plan for; None: the one the run measured."""
    c = costs(run, architecture)
    if c is None:
        return None
    at_once = _tasks_at_once(architecture, run)
    exec_ms = c.exec_ms + (0.0 if rtt_ms is None else rtt_ms - c.rtt_ms) * _round_trips(run, architecture)
    processes = max(math.ceil(rate_per_s * exec_ms / 1000 / at_once), math.ceil(rate_per_s * c.worker_cpu_ms / 1000))
    held = (
        rate_per_s * exec_ms / 1000
        if c.sessions_per_task >= 0.5
        else processes * min(int(run.setting("pool_size")), at_once)
    )
    per_task = {
        "worker cores": c.worker_cpu_ms / 1000,
        "db cores": c.db_cpu_ms / 1000,
        "broker cores": c.broker_cpu_ms / 1000,
    }
    budgets = {
        "worker cores": budget.worker_cores,
        "db cores": budget.db_cores,
        "broker cores": budget.broker_cores,
        "connections": budget.connections,
    }
    limits = {role: limit for role, limit in budgets.items() if limit is not None}  # None: no limit given
    per_task["connections"] = held / rate_per_s if rate_per_s else 0.0
    need = {role: rate_per_s * cost for role, cost in per_task.items()}
    max_rates = {role: limits[role] / cost for role, cost in per_task.items() if role in limits and cost > 0}
    limited_by = min(max_rates, key=lambda role: max_rates[role]) if max_rates else None
    return Need(
        architecture,
        rate_per_s,
        processes,
        need["worker cores"],
        need["db cores"],
        need["broker cores"],
        held,
        rate_per_s * c.sessions_per_task,
        [role for role in need if role in limits and need[role] > limits[role]],
        max_rates[limited_by] if limited_by else None,
        limited_by,
    )


def _tasks_at_once(architecture: str, run: RunData) -> int:
    from bench.architectures import architecture_classes

    cls = architecture_classes().get(architecture_of(architecture))
    return int(run.setting("tasks_per_process")) if cls is not None and cls.concurrent else 1


def _round_trips(run: RunData, architecture: str) -> int:
    """Round trips a task waits for: the recipe connects each time; a pool only runs the statements;
    behind PgBouncer (beside the workers) the connect is local but every statement is prepared anew."""
    architecture = architecture_of(architecture)
    if architecture in (RECIPE, RECIPE_PSYCOPG):
        auth = run.meta.get("server", {}).get("auth") or "scram-sha-256"
        driver = "psycopg" if architecture == RECIPE_PSYCOPG else "asyncpg"
        return task_round_trips(auth, bool(run.meta.get("server", {}).get("ssl")), driver)
    return STATEMENT_ROUND_TRIPS if "pgbouncer" in architecture else POOLED_ROUND_TRIPS


def crossover_sentence(needs: list[Need]) -> str | None:
    recipe = next((n for n in needs if n.architecture == RECIPE), None)
    if recipe is None or recipe.max_rate_per_s is None:
        return None
    return f"{RECIPE} first needs more than the budget at {recipe.max_rate_per_s:.0f} tasks/s, in {recipe.limited_by}."
