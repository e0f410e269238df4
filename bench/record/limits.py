"""What it means for a step to have held its rate: it kept up with its arrivals (within 2 %), its p99
stayed under the SLO, no task failed or was lost, its connections stayed within the budget, and it was
steady. Here, with the records, because the run decides by it which rate to run next and the analysis
which rate an arm sustains: one rule for both."""

from __future__ import annotations

from dataclasses import dataclass

THROUGHPUT_TOLERANCE = 0.02


def realized_rate(row: dict) -> float:
    """Arrivals actually scheduled in the measured window per second: the offered rate for uniform
    arrivals, a random draw around it for Poisson ones (which the 2 % test must not mistake for a limit)."""
    if row.get("scheduled") and row.get("duration_s"):
        return row["scheduled"] / row["duration_s"]
    return row["offered_rate_per_s"]


def kept_up(row: dict) -> bool:
    """Achieved throughput within 2 % of the arrivals scheduled."""
    achieved = row["achieved_rate_per_s"]
    return achieved is not None and achieved >= (1 - THROUGHPUT_TOLERANCE) * realized_rate(row)


RESERVED_CONNECTIONS = 5
"""Of the server's max_connections: superuser_reserved_connections (3) and bench's own two (sampler, stats)."""


@dataclass(frozen=True)
class Limits:
    slo_p99_ms: float
    connection_budget: int
    target_rate: float | None = None
    """The team's peak rate, tasks/s (bench/analysis/verdict.py); None: no target."""
    headroom: float = 1.5
    """What the recipe and a way out must sustain above the target, as a factor."""


def broken_limits(row: dict, limits: Limits) -> list[str]:
    broken = []
    if not kept_up(row):
        broken.append("throughput")
    if row["latency_p99_ms"] is None or row["latency_p99_ms"] > limits.slo_p99_ms:
        broken.append("latency")
    if (row["failed"] or 0) + (row["lost"] or 0) > 0:
        broken.append("errors")
    if (row["connections_peak"] or 0) > limits.connection_budget:
        broken.append("connections")
    return broken


def held(row: dict, limits: Limits) -> bool:
    """The step held its rate: steady (a step that drained a backlog while measured says nothing of
    its rate) and within every limit."""
    return not row.get("unsteady") and not broken_limits(row, limits)


def profile_limits(profile) -> Limits:
    """The limits a run's profile sets, as far as they are known before it has run (the budget's
    default from the profile's max_connections, not the server's)."""
    return Limits(
        profile.slo_p99_ms,
        profile.connection_budget or profile.max_connections - RESERVED_CONNECTIONS,
        profile.target_rate,
        profile.headroom,
    )
