import random

import pytest

from bench.schedule import StepPlan, poisson_offsets_ns, share, step_key, uniform_offsets_ns


def test_uniform_offsets_are_evenly_spaced_and_count_rate_times_duration():
    offsets = uniform_offsets_ns(40, 2.5)
    assert len(offsets) == 100
    assert offsets[0] == 0
    assert {b - a for a, b in zip(offsets, offsets[1:])} <= {25_000_000, 25_000_001, 24_999_999}


def test_poisson_offsets_have_the_asked_mean_rate_within_sampling_error():
    # 20,000 expected arrivals: the count's standard deviation is ~0.7 %, so 3 % is > 4 sigma.
    offsets = poisson_offsets_ns(200, 100, random.Random(7))
    assert len(offsets) == pytest.approx(20_000, rel=0.03)
    assert offsets == sorted(offsets)
    assert all(0 <= o < 100e9 for o in offsets)


def test_poisson_gaps_are_exponential_coefficient_of_variation_near_one():
    offsets = poisson_offsets_ns(100, 100, random.Random(3))
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    mean = sum(gaps) / len(gaps)
    sd = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    assert sd / mean == pytest.approx(1.0, abs=0.05)


def test_step_plan_covers_warmup_and_measurement_and_is_reproducible():
    plan = StepPlan(index=3, rate_per_s=50, warmup_s=1, measure_s=2, arrival="poisson", seed=9)
    assert plan.offsets_ns() == plan.offsets_ns()
    uniform = StepPlan(index=3, rate_per_s=50, warmup_s=1, measure_s=2, arrival="uniform", seed=9)
    assert len(uniform.offsets_ns()) == 150
    assert sum(o >= uniform.warmup_ns for o in uniform.offsets_ns()) == 100
    assert step_key(uniform.task_id(17)) == uniform.key == "3.0"
    again = StepPlan(index=3, rate_per_s=50, warmup_s=1, measure_s=2, arrival="poisson", seed=9, repetition=1)
    assert step_key(again.task_id(17)) == "3.1"
    assert again.offsets_ns() != plan.offsets_ns()  # a repetition is a new sample, not a replay


@pytest.mark.parametrize("arrivals, count", [(0, 3), (1, 3), (10, 3), (3000, 3), (7, 1), (101, 4)])
def test_shares_of_the_schedule_are_disjoint_and_cover_it(arrivals, count):
    shares = [list(share(arrivals, index, count)) for index in range(count)]
    assert sorted(seq for part in shares for seq in part) == list(range(arrivals))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
