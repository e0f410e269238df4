"""Mean value analysis of a closed queueing network: the throughput P customers get from CPU sets they
take turns on, where the asymptotic bound min(P / E, cores / D) only says what they cannot pass.

A saturation drain is a closed network: each of P worker processes takes the next task the moment it
finishes one (the queue is never empty), so P tasks are always in the system. Each task visits
- each CPU set (a queueing centre) for its CPU demand there, ms: the workers' and the broker's CPU on
  their cores, the database's on its own;
- a delay centre for the time it waits with no CPU of its own (round trips, wake-ups).
Exact MVA (Reiser and Lavenberg; Lazowska et al., "Quantitative System Performance", ch. 6) adds one
customer at a time: a task arriving at a centre finds there the queue the network held with one
customer fewer, so its residence is R_k(n) = D_k (1 + Q_k(n - 1)), and X(n) = n / (Z + sum R_k(n)).
Below the asymptote this gives what a pinned topology shows: the database's core at 70 % slows the
workers' turns on theirs, and two processes do not reach P / E when their own CPU set is busy.

A set of c cores is a load-dependent centre (up to c tasks served at once, at full speed each), solved
exactly with its queue-length distribution p(j | n): R(n) = sum_j j / min(j, c) D p(j - 1 | n - 1) and
p(j | n) = X(n) D / min(j, c) p(j - 1 | n - 1) (Reiser and Lavenberg's load-dependent MVA). With one
core it is the single-server formula above. What a set burns with no tasks (I ms of CPU a second) is
not there for tasks: its demand is stretched by 1 / (1 - I / (1000 c)).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Centre:
    name: str
    demand_ms: float
    """CPU one task takes here, ms."""
    cores: int = 1
    idle_ms_per_s: float = 0.0
    """CPU burnt here with no tasks, ms a second."""

    def stretched_ms(self) -> float:
        """The demand with the idle burn's share of the cores taken away."""
        free = 1 - self.idle_ms_per_s / (1000 * self.cores)
        return self.demand_ms / free if free > 0 else float("inf")


@dataclass(frozen=True)
class Solution:
    throughput_per_s: float
    utilization: dict[str, float]
    """Busy share of each centre's cores, the idle burn included (0-1)."""
    response_ms: float
    """One task's time through the network: its delay and its turns at every centre."""


def solve(centres: list[Centre], delay_ms: float, customers: int) -> Solution:
    """Exact MVA of `customers` tasks in a closed loop through `centres` and a delay of `delay_ms`."""
    if customers < 1:
        raise ValueError("a closed network needs at least one customer")
    demands = [c.stretched_ms() for c in centres]
    # p[k][j]: the chance that centre k holds j tasks, with one customer fewer than now.
    p = [[1.0] for _ in centres]
    throughput, response = 0.0, delay_ms
    for n in range(1, customers + 1):
        residence = [
            sum(j / min(j, c.cores) * d * p[k][j - 1] for j in range(1, n + 1))
            for k, (c, d) in enumerate(zip(centres, demands))
        ]
        response = delay_ms + sum(residence)
        throughput = n / response if response > 0 else float("inf")
        for k, (c, d) in enumerate(zip(centres, demands)):
            held = [throughput * d / min(j, c.cores) * p[k][j - 1] for j in range(1, n + 1)]
            p[k] = [max(0.0, 1 - sum(held)), *held]  # rounding can take p(0) a hair below 0 near saturation
    per_s = 1000 * throughput
    return Solution(
        per_s,
        {
            c.name: min(1.0, per_s * c.demand_ms / (1000 * c.cores) + c.idle_ms_per_s / (1000 * c.cores))
            for c in centres
        },
        response,
    )
