"""Mean value analysis against an independent exact solution (the product-form normalising constant)."""

from __future__ import annotations

import itertools
import math

import pytest

from bench.analysis.mva import Centre, solve


def by_normalising_constant(centres: list[Centre], delay_ms: float, customers: int) -> float:
    """Throughput (per ms) of a closed product-form network, X(N) = G(N - 1) / G(N): every way of
    placing the customers, each centre weighing D^n / prod(min(j, c)), the delay Z^n / n!."""

    def g(n: int) -> float:
        total = 0.0
        for placed in itertools.product(range(n + 1), repeat=len(centres)):
            at_delay = n - sum(placed)
            if at_delay < 0:
                continue
            weight = delay_ms**at_delay / math.factorial(at_delay)
            for centre, k in zip(centres, placed):
                weight *= centre.stretched_ms() ** k / math.prod(min(j, centre.cores) for j in range(1, k + 1))
            total += weight
        return total

    return g(customers - 1) / g(customers)


@pytest.mark.parametrize("customers", [1, 2, 3, 5, 8])
@pytest.mark.parametrize(
    "centres, delay_ms",
    [
        ([Centre("workers", 6.5), Centre("db", 5.0)], 0.0),
        ([Centre("workers", 6.5, idle_ms_per_s=50), Centre("db", 5.0, idle_ms_per_s=20)], 3.0),
        ([Centre("machine", 11.0, cores=2, idle_ms_per_s=100)], 2.0),
        ([Centre("workers", 4.0, cores=2), Centre("db", 5.0)], 1.0),
    ],
)
def test_mva_matches_the_exact_solution_by_the_normalising_constant(centres, delay_ms, customers):
    x = solve(centres, delay_ms, customers).throughput_per_s
    assert x == pytest.approx(1000 * by_normalising_constant(centres, delay_ms, customers), rel=1e-9)


def test_throughput_stays_under_both_asymptotes_and_approaches_the_busiest_centre():
    centres, delay = [Centre("workers", 6.5, idle_ms_per_s=50), Centre("db", 5.0)], 4.0
    busiest = 1000 / centres[0].stretched_ms()
    previous = 0.0
    for n in range(1, 40):
        s = solve(centres, delay, n)
        assert previous < s.throughput_per_s <= min(1000 * n / (delay + 6.5 / 0.95 + 5.0), busiest) * (1 + 1e-9)
        previous = s.throughput_per_s
    assert previous == pytest.approx(busiest, rel=0.01)
    # Utilisation law: U = X D plus the idle burn, and the busiest centre nearly full.
    assert s.utilization["workers"] == pytest.approx(previous * 6.5 / 1000 + 0.05)
    assert s.utilization["db"] == pytest.approx(previous * 5.0 / 1000)


def test_a_second_core_serves_a_second_task_at_full_speed():
    # Two customers, no delay: on one core they queue (X = 1 / D); on two they never do (X = 2 / D).
    assert solve([Centre("cpu", 10.0)], 0.0, 2).throughput_per_s == pytest.approx(100)
    assert solve([Centre("cpu", 10.0, cores=2)], 0.0, 2).throughput_per_s == pytest.approx(200)
