"""What one more task costs each role: the slope of its CPU over the task rate, not CPU / one rate.

A role's CPU over a step's measured window (percent of a core) is its fixed burn (idle workers'
polling, bench's sampler querying the database, the broker's own timers) plus a cost per task. One
step's ratio divides the fixed burn by few tasks at a low rate: the recipe's workers read 32 ms per
task at 25/s where they cost 12.7 at saturation. So each role's CPU (ms per second) is fitted by least
squares against the rate of the steps below saturation that kept up (and were steady): the slope is
the marginal cost (ms of CPU per task), with its standard error from the residuals (three rates or
more), and the intercept is what the role burns with no tasks (`idle_percent`, percent of a core).
With a single rate there is no slope: the cost falls back to that step's ratio, and says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.record.limits import kept_up
from bench.record.stats import COST_OF, fit_line

ROLE_OF = {
    "worker_cpu_ms_per_task": "workers",
    "machine_cpu_ms_per_task": "machine",
    **{
        cost: cost.removesuffix("_cpu_ms_per_task")
        for cost in COST_OF
        if cost not in ("worker_cpu_ms_per_task", "machine_cpu_ms_per_task")
    },
}
"""Role name of each per-task column: workers, db, broker, loadgen, pgbouncer, proxy, control, machine."""
SLOPE, RATIO = "slope", "ratio at one rate"
COLUMNS = [
    "architecture",
    "role",
    "cpu_ms_per_task",
    "cpu_ms_per_task_stderr",
    "idle_cpu_percent",
    "method",
    "rates_per_s",
    "steps",
]
"""costs.csv: one row per (arm, role)."""


@dataclass(frozen=True)
class RoleCost:
    role: str
    ms_per_task: float
    """Marginal CPU of one more task, ms (the slope); the ratio at one rate when `method` says so."""
    stderr_ms: float
    """Standard error of the slope, ms; NaN with fewer than three steps (or for a ratio)."""
    idle_percent: float
    """CPU at no tasks, percent of a core (the intercept); NaN for a ratio."""
    method: str
    rates: tuple[float, ...]
    """The task rates (tasks/s) of the steps fitted."""

    @property
    def idle_ms_per_s(self) -> float:
        return 0.0 if math.isnan(self.idle_percent) else 10 * self.idle_percent

    def how(self) -> str:
        """How it was found, in words: "slope over 10, 25 and 40/s" or "ratio at 25/s"."""
        rates = sorted({round(r) for r in self.rates})
        words = ", ".join(f"{r:g}" for r in rates[:-1]) + (" and " if len(rates) > 1 else "") + f"{rates[-1]:g}/s"
        return f"slope over {words}" if self.method == SLOPE else f"ratio at {words}"

    def row(self, architecture: str) -> dict:
        return {
            "architecture": architecture,
            "role": self.role,
            "cpu_ms_per_task": _round(self.ms_per_task),
            "cpu_ms_per_task_stderr": _round(self.stderr_ms),
            "idle_cpu_percent": _round(self.idle_percent),
            "method": self.method,
            "rates_per_s": ";".join(f"{r:g}" for r in sorted(set(self.rates))),
            "steps": len(self.rates),
        }


def fit_rows(rows: list[dict], architecture: str) -> list[dict]:
    """The steps a cost is fitted on: the architecture's rate steps that kept up, were steady and had the
    machine to themselves."""
    return [
        r
        for r in rows
        if r["architecture"] == architecture
        and not r.get("saturation")
        and kept_up(r)
        and not r.get("unsteady")
        and not r.get("disturbed")
    ]


def role_cost(rows: list[dict], cost_column: str) -> RoleCost | None:
    """One role's marginal cost over `rows` (see fit_rows), or None when no row measured it."""
    cpu_column = COST_OF[cost_column]
    points = [
        (rate, 10 * r[cpu_column]) for r in rows if r.get(cpu_column) is not None and (rate := _rate(r, cost_column))
    ]
    if not points:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if len(set(xs)) < 2 or max(xs) - min(xs) < 0.1 * max(xs):
        # One rate (or rates too close to part fixed from marginal): the ratio, as each step reports it.
        ratios = [r[cost_column] for r in rows if r.get(cost_column) is not None]
        return RoleCost(
            ROLE_OF[cost_column],
            statistics.median(ratios) if ratios else math.nan,
            math.nan,
            math.nan,
            RATIO,
            tuple(xs),
        )
    slope, stderr, intercept = fit_line(xs, ys)
    return RoleCost(ROLE_OF[cost_column], slope, stderr, intercept / 10, SLOPE, tuple(xs))


def marginal_costs(rows: list[dict], architecture: str) -> dict[str, RoleCost]:
    """Every measured role's marginal cost for one arm, by role name."""
    fitted = fit_rows(rows, architecture)
    costs = {}
    for column in COST_OF:
        cost = role_cost(fitted, column)
        if cost is not None:
            costs[cost.role] = cost
    return costs


def cost_rows(rows: list[dict], architectures: list[str]) -> list[dict]:
    """costs.csv's rows for every arm of a run."""
    return [cost.row(arch) for arch in architectures for cost in marginal_costs(rows, arch).values()]


def _rate(row: dict, cost_column: str) -> float | None:
    """The task rate a role's CPU is fitted against: tasks sent for the load generator (its work is
    sending), tasks processed for every other role."""
    if cost_column == "loadgen_cpu_ms_per_task" and row.get("sent_rate_per_s"):
        return row["sent_rate_per_s"]
    return row.get("achieved_rate_per_s")


def _round(value: float):
    return "" if value is None or math.isnan(value) else round(value, 4)
