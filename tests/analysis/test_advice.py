"""The sustainable-rate logic and the advice, on recorded runs (tests/data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.analysis.advice import advise, limits_for, sustainable_rate
from bench.record.limits import Limits
from bench.analysis.verdict import EXIT_SHORT_OF_TARGET
from bench.analysis.ways_out import ABOUT_EQUAL, CLEAR, leaders, leaders_words
from bench.record.results import load_run
from tests.conftest import run_bench

DATA = Path(__file__).parent.parent / "data"


def test_limit_is_the_connection_budget():
    # gevent-pool peaked at 4 connections at 30/s in the recorded run: a budget of 3 binds at once,
    # while prefork-nullpool (one short connection per task) stays within it.
    run = load_run(DATA / "all-architectures")
    limits = Limits(slo_p99_ms=500, connection_budget=3)
    gevent = sustainable_rate(run, "gevent-pool", limits)
    assert gevent.rate_per_s is None and gevent.bound_by == ["connections"] and gevent.failed_at_per_s == 30
    assert sustainable_rate(run, "prefork-nullpool", limits).rate_per_s == 60


def test_limit_is_latency_while_throughput_keeps_up():
    # io_wait on gevent-pool with one connection per process, Poisson arrivals: at 80/s it keeps up
    # but queues, p99 ~158 ms; at 20/s p99 ~31 ms.
    run = load_run(DATA / "queueing")
    result = sustainable_rate(run, "gevent-pool", Limits(slo_p99_ms=50, connection_budget=95))
    assert result.rate_per_s == 20 and result.bound_by == ["latency"] and result.failed_at_per_s == 80
    # With a looser SLO nothing binds: every tested rate is sustainable (Poisson counts are not a "throughput" miss).
    loose = sustainable_rate(run, "gevent-pool", Limits(slo_p99_ms=1000, connection_budget=95))
    assert loose.rate_per_s == 80 and loose.bound_by == []


def test_limit_is_throughput_and_latency_past_saturation():
    run = load_run(DATA / "repeat-tinypool")  # pool_size 1: at most ~100/s, asked for 120/s
    result = sustainable_rate(run, "gevent-pool", Limits(slo_p99_ms=250, connection_budget=95))
    assert result.rate_per_s == 40 and result.bound_by == ["throughput", "latency"]


def test_errors_bind_the_trap_at_its_lowest_rate():
    run = load_run(DATA / "all-architectures")
    trap = sustainable_rate(run, "prefork-asyncio-run", limits_for(run))
    assert trap.rate_per_s is None and "errors" in trap.bound_by


def test_advice_names_the_crossover_reason_and_the_best_alternative():
    run = load_run(DATA / "all-architectures")
    advice = advise(run, limits_for(run))
    assert advice["limits"] == {"slo_p99_ms": 500.0, "connection_budget": 95, "target_rate": None, "headroom": 1.5}
    assert advice["crossover_rate_per_s"] == 60
    # async-queue drained the most (1228/s against 636), but from single drains: their spread is
    # unknown, so no arm is named the fastest.
    assert advice["recommended"] is None
    assert any(
        line.startswith("Beyond that, the highest ceiling here is async-queue's")
        and "not shown to be the fastest" in line
        for line in advice["text"]
    )
    assert set(advice["architectures"]) == set(run.architectures)
    text = " ".join(advice["text"])
    assert "prefork-nullpool is fine up to at least 60 tasks/s" in text
    assert "ms opening a connection" in text and "prefork-asyncio-run is not an option" in text


def test_advise_command_prints_and_writes_advice_json(tmp_path, bench_cli):
    shutil.copytree(DATA / "queueing", tmp_path / "queueing")
    done = run_bench("advise", "queueing", "--slo-p99-ms", "50", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    advice = json.loads((tmp_path / "queueing" / "advice.json").read_text())
    assert advice["architectures"]["gevent-pool"]["rate_per_s"] == 20
    assert advice["architectures"]["gevent-pool"]["bound_by"] == ["latency"]
    assert "did not measure prefork-nullpool" in done.stdout


def _with_saturation_runs(run, drains: dict[str, list[float]]):
    """The recorded run with each named architecture's "max" step replaced by repetitions draining as given."""
    steps = [r for r in run.steps if not (r.get("saturation") and r["architecture"] in drains)]
    for arch, values in drains.items():
        template = next(r for r in run.steps if r["architecture"] == arch and r.get("saturation"))
        steps += [{**template, "repetition": i, "throughput_per_s": v} for i, v in enumerate(values)]
    return type(run)(run.path, run.meta, steps, run.samples)


def test_gain_over_the_recipe_is_stated_only_when_the_drain_ranges_do_not_overlap():
    run = load_run(DATA / "all-architectures")
    limits = Limits(slo_p99_ms=500, connection_budget=95)
    apart = advise(
        _with_saturation_runs(run, {"prefork-nullpool": [166, 206, 190], "gevent-pool": [943, 1101, 990]}), limits
    )
    line = next(t for t in apart["text"] if t.startswith("gevent-pool") or "move to gevent-pool" in t)
    assert "drains 990 (943–1101) tasks/s at saturation, median of 3 runs" in line
    assert "5.2x the recipe's median drain rate" in line
    overlapping = advise(
        _with_saturation_runs(run, {"prefork-nullpool": [166, 206, 190], "gevent-pool": [180, 230, 200]}), limits
    )
    line = next(t for t in overlapping["text"] if "gevent-pool" in t and "drains" in t)
    assert "no clear difference" in line and "x the recipe" not in line
    assert overlapping["architectures"]["prefork-nullpool"]["saturation_min_per_s"] == 166


def _on_rabbitmq_too(run, architectures: dict[str, dict[str, float]]):
    """The recorded run, with each named architecture run once more as `name@rabbitmq` (its rows copied,
    the given columns changed)."""
    steps = [{**r, "broker_cpu_ms_per_task": 0.15} if r.get("broker_cpu_ms_per_task") is None else r for r in run.steps]
    for arch, changes in architectures.items():
        steps += [
            {**r, **changes, "architecture": f"{arch}@rabbitmq", "broker": "rabbitmq"}
            for r in run.steps
            if r["architecture"] == arch
        ]
    return type(run)(run.path, run.meta, steps, run.samples)


def test_an_arm_on_another_broker_is_set_against_the_recipe_on_that_broker():
    run = _with_saturation_runs(
        load_run(DATA / "all-architectures"), {"prefork-nullpool": [166, 206, 190], "gevent-pool": [943, 1101, 990]}
    )
    run = _on_rabbitmq_too(
        run,
        {
            "prefork-nullpool": {"throughput_per_s": 150.0, "broker_cpu_ms_per_task": 0.4},
            "gevent-pool": {"throughput_per_s": 600.0, "broker_cpu_ms_per_task": 0.3},
        },
    )
    advice = advise(run, Limits(slo_p99_ms=500, connection_budget=95))
    # The recipe on RabbitMQ is the recipe still: never where to go.
    assert advice["recommended"] != "prefork-nullpool@rabbitmq"
    recipe_there = next(t for t in advice["text"] if t.startswith("prefork-nullpool@rabbitmq (the recipe on rabbitmq)"))
    assert "drains 150 (150–150) tasks/s" in recipe_there
    assert "no clear difference" not in recipe_there  # 150 is below the recipe's 166–206 on Redis
    line = next(
        t for t in advice["text"] if t.startswith("gevent-pool@rabbitmq") or "move to gevent-pool@rabbitmq" in t
    )
    assert "4.0x the recipe's median drain rate on rabbitmq" in line  # 600 against 150, not against 190
    broker = [t for t in advice["text"] if t.startswith("Broker CPU per task of gevent-pool at saturation")]
    on_redis = next(
        r["broker_cpu_ms_per_task"] for r in run.steps if r["architecture"] == "gevent-pool" and r["saturation"]
    )
    assert broker and f"redis {on_redis:.2f} ms, rabbitmq 0.30 ms" in broker[0]


def _results(name: str) -> dict:
    run = load_run(DATA / name)
    return {a: sustainable_rate(run, a, limits_for(run)) for a in run.architectures}


def test_ways_out_whose_ceilings_overlap_are_about_equal_and_one_clear_of_the_rest_is_the_fastest():
    results = _results("quick-ceilings")  # the default run: 3 drains per arm
    loop, sync, queue = results["prefork-loop-pool"], results["prefork-sync-pool"], results["async-queue"]
    assert (round(loop.drain.low), round(loop.drain.high)) == (647, 741)
    assert (round(sync.drain.low), round(sync.drain.high)) == (513, 665)
    tied = leaders([sync, loop])
    assert tied.how == ABOUT_EQUAL and {s.architecture for s in tied.top} == {"prefork-loop-pool", "prefork-sync-pool"}
    assert tied.one is None
    clear = leaders([loop, queue, sync])
    assert clear.how == CLEAR and clear.one is queue  # 1109 (1020-1262) lies above both ranges
    advice = advise(load_run(DATA / "quick-ceilings"), limits_for(load_run(DATA / "quick-ceilings")))
    assert advice["recommended"] == "async-queue" and advice["about_equal"] == []
    assert "Beyond that, the fastest way out here is async-queue" in " ".join(advice["text"])


def test_ties_are_never_broken_by_name_or_order():
    results = _results("quick-ceilings")
    loop, sync = results["prefork-loop-pool"], results["prefork-sync-pool"]
    for order in ([loop, sync], [sync, loop]):
        found = leaders(order)
        assert found.how == ABOUT_EQUAL and found.top[0] is loop  # by median (710 against 614), not by name
        assert (
            "about equal" in leaders_words(found)
            and "647–741" in leaders_words(found)
            and "513–665" in leaders_words(found)
        )


def test_a_target_names_the_recipes_headroom_and_the_least_effort_way_out_that_holds_it():
    run = load_run(DATA / "quick-ceilings")  # the recipe held 80/s; ceiling 109 (100-113)/s
    advice = advise(run, limits_for(run, target_rate=50))
    target = advice["target"]
    assert target["needed_rate_per_s"] == 75 and target["recipe"]["at_needed"] == "holds"
    assert target["recipe"]["headroom"] == 1.6 and advice["verdict"]["exit_code"] == 0
    assert advice["text"][0].startswith("At your target of 50 tasks/s: prefork-nullpool holds it with 1.6x headroom")
    # PgBouncer in front asks the least of the code and holds 75/s (it sustained 135/s).
    assert target["way_out"] == {
        "adoption": "keeps the async code",
        "architectures": ["prefork-nullpool-pgbouncer"],
        "how": "only",
        "rate_per_s": 135,
    }
    # 150/s: past PgBouncer's 135; the next class, one arm, holds it.
    advice = advise(run, limits_for(run, target_rate=100))
    assert advice["target"]["way_out"]["architectures"] == ["prefork-loop-pool"]
    assert advice["verdict"]["status"] == "short" and advice["verdict"]["exit_code"] == EXIT_SHORT_OF_TARGET
    # 450/s: none was run that high; the best held are said, about equal where their ceilings overlap.
    advice = advise(run, limits_for(run, target_rate=300))
    assert advice["target"]["way_out"] is None and advice["target"]["best_held"]["rate_per_s"] == 345
    assert advice["text"][1].startswith("No way out tested holds 450/s (300 x 1.5); the best held 345/s: async-queue")


def test_two_ways_out_of_one_class_whose_ceilings_overlap_are_about_equal_in_either_order():
    """Beside the recorded run's PgBouncer arm (keeps the async code; held 135/s), a second arm of its
    class that held the same rate, its drains overlapping: neither is named best by its median, and the
    order the profile lists them in changes nothing. Drains clear of each other: the higher, alone; single
    drains: the higher, said not to be shown faster."""
    from dataclasses import replace

    from bench.analysis.adoption import adoption_lines, best_by_class

    run = load_run(DATA / "quick-ceilings")
    results = {arch: sustainable_rate(run, arch, limits_for(run)) for arch in run.architectures}
    plain, discard = "prefork-nullpool-pgbouncer", "prefork-nullpool-pgbouncer-discard"
    low, high = results[plain].saturation_min_per_s, results[plain].saturation_max_per_s
    assert low is not None and high is not None and low < high

    def beside(drain_low: float, drain_high: float) -> list[dict]:
        """The class's best, with the second arm's drains at drain_low-drain_high, in both orders."""
        results[discard] = replace(
            results[plain],
            architecture=discard,
            saturation_throughput_per_s=(drain_low + drain_high) / 2,
            saturation_min_per_s=drain_low,
            saturation_max_per_s=drain_high,
        )
        return [
            best_by_class(run, {arch: results[arch] for arch in order})["keeps the async code"]
            for order in (list(results), list(reversed(results)))
        ]

    for best in beside(low + 0.5 * (high - low), high + 10):  # its median above, its range overlapping
        assert {best["architecture"], *(a["architecture"] for a in best["about_equal"])} == {plain, discard}
    lines = [
        line
        for best in beside(low + 0.5 * (high - low), high + 10)
        for line in adoption_lines({"keeps the async code": best})[1:]
    ]
    assert lines[0] == lines[1]
    assert "about equal (ceiling" in lines[0] and "their ranges overlap), sustain " in lines[0]
    assert lines[0].count("(PgBouncer in front)") == 2
    for best in beside(high + 10, high + 20):  # clear above: it alone, in either order
        assert best["architecture"] == discard and best["about_equal"] == best["single_drains_beside"] == []
    # Single drains (no spread): the higher is named, and the line says it is not shown to be faster.
    results = {arch: replace(r, saturation_runs=1) for arch, r in results.items()}
    for best in beside(high + 10, high + 10):
        (line,) = adoption_lines({"keeps the async code": best})[1:]
        assert best["single_drains_beside"] == [plain] and "its single drain is the higher" in line
    results = {arch: replace(r, saturation_runs=3) for arch, r in results.items()}
    # A run of drains alone (no rate steps): the same, by the ceilings.
    results = {arch: replace(r, rate_per_s=None, failed_at_per_s=None) for arch, r in results.items()}
    drained = [
        line
        for best in beside(low + 0.5 * (high - low), high + 10)
        for line in adoption_lines({"keeps the async code": best})[1:]
    ]
    assert (
        drained[0] == drained[1]
        and "about equal (ceiling" in drained[0]
        and "(the run has no rate steps)" in drained[0]
    )
