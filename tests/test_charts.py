"""Charts drawn from recorded runs (tests/data), read back from the files they write."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from matplotlib.text import Text

from bench.output.charts import CHART_NAMES, color, draw_all, throughput_chart
from bench.record.results import load_run
from tests.conftest import run_bench

DATA = Path(__file__).parent / "data"
ALL = DATA / "all-architectures"
ARCHITECTURES = ["prefork-nullpool", "prefork-asyncio-run", "gevent-pool", "async-queue", "prefork-loop-pool"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    draw_all(load_run(ALL), out)
    return out


def _svg(out: Path, name: str) -> str:
    return (out / f"{name}.svg").read_text()


def test_every_chart_is_written_as_png_and_svg(drawn):
    for name in CHART_NAMES:
        assert (drawn / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in _svg(drawn, name)


def test_throughput_chart_holds_one_series_per_architecture_the_ideal_line_and_drain_rates(drawn):
    svg = _svg(drawn, "throughput")
    for arch in ARCHITECTURES:
        assert f'id="throughput-{arch}"' in svg and f'id="drain-{arch}"' in svg
    assert "ideal (throughput = offered)" in svg and "offered rate (tasks/s)" in svg
    run = load_run(ALL)
    drain = next(r["throughput_per_s"] for r in run.steps if r["architecture"] == "async-queue" and r["saturation"])
    assert f"async-queue {drain:.0f}/s" in svg  # named in the right margin, level with its line


def test_latency_chart_has_p50_and_p99_for_architectures_that_completed_tasks(drawn):
    svg = _svg(drawn, "latency")
    for arch in ARCHITECTURES:
        for quantile in ("p50", "p99"):
            assert f'id="latency-{quantile}-{arch}"' in svg
    assert "log" in svg


def test_connections_chart_draws_samples_and_max_connections(drawn):
    svg = _svg(drawn, "connections")
    run = load_run(ALL)
    for arch in {s["architecture"] for s in run.samples if s["architecture"]}:
        assert f'id="connections-{arch}"' in svg
    assert 'id="max-connections"' in svg and f"max_connections ({int(run.meta['server']['max_connections'])})" in svg


def test_handshake_and_errors_charts_hold_the_expected_series(drawn):
    handshake = _svg(drawn, "handshake")
    for arch in ARCHITECTURES:
        assert f'id="sessions-{arch}"' in handshake and f'id="connect-share-{arch}"' in handshake
    errors = _svg(drawn, "errors")
    assert 'id="errors-InterfaceError"' in errors  # the asyncio.run trap's failures
    assert "no errors" not in errors


def test_series_points_match_the_steps(drawn):
    # The throughput line of an architecture has one marker per rate step.
    svg = _svg(drawn, "throughput")
    group = re.search(r'<g id="throughput-gevent-pool">(.*?)</g>\s*</g>', svg, re.S).group(1)
    run = load_run(ALL)
    rates = {r["offered_rate_per_s"] for r in run.steps if r["architecture"] == "gevent-pool" and not r["saturation"]}
    assert group.count("<use ") == len(rates)


def test_each_architecture_keeps_its_colour():
    assert color("prefork-nullpool") == color("prefork-nullpool") != color("async-queue")
    assert color("some-new-architecture") == color("some-new-architecture")
    # Variants of one architecture in one run (the profiles pgbouncer and held_connections) get shades of
    # its colour that differ from each other and from it; a broker does not change it.
    for name, variants in (("prefork-nullpool-pgbouncer", ("1.18", "1.24")), ("gevent-pool", ("spans",))):
        shades = {color(name), *(color(f"{name}#{v}") for v in variants)}
        assert len(shades) == 1 + len(variants), shades
    assert color("prefork-nullpool-pgbouncer#1.18@rabbitmq") == color("prefork-nullpool-pgbouncer#1.18")


def test_plot_command_writes_into_plots_run_id(tmp_path, bench_cli):
    results = tmp_path / "results"
    shutil.copytree(ALL, results / ALL.name)
    done = run_bench("plot", ALL.name, "--results-dir", str(results), "--plots-dir", str(tmp_path / "plots"))
    assert done.returncode == 0, done.stderr
    assert {f"{n}.{s}" for n in CHART_NAMES for s in ("png", "svg")} <= {
        p.name for p in (tmp_path / "plots" / ALL.name).iterdir()
    }


def test_plot_of_a_missing_run_is_one_line(tmp_path, bench_cli):
    done = run_bench("plot", "nosuch", "--results-dir", str(tmp_path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "no run 'nosuch'" in done.stderr


def test_repeated_saturation_steps_draw_their_median_and_range(tmp_path):
    from tests.analysis.test_advice import _with_saturation_runs

    run = _with_saturation_runs(load_run(ALL), {"prefork-nullpool": [166, 206, 190]})
    draw_all(run, tmp_path)
    svg = _svg(tmp_path, "throughput")
    assert 'id="drain-range-prefork-nullpool"' in svg and 'id="drain-range-gevent-pool"' not in svg
    assert "prefork-nullpool 190/s (166–206)" in svg
    assert "drain rate at saturation, median of 3 runs, min–max shaded" in svg
    # Repeated rate steps get error bars spanning their repetitions.
    draw_all(load_run(DATA / "repeat-base"), tmp_path / "repeated")
    assert 'id="throughput-range-gevent-pool"' in _svg(tmp_path / "repeated", "throughput")


def test_drain_labels_a_few_percent_apart_do_not_print_over_each_other(tmp_path):
    from tests.analysis.test_advice import _with_saturation_runs

    # Two arms draining 195 and 199 tasks/s: one line of text apart at most, before placing.
    run = _with_saturation_runs(load_run(ALL), {"prefork-nullpool": [195], "gevent-pool": [199]})
    fig = throughput_chart(run)
    ax = fig.axes[0]
    fig.canvas.draw()
    boxes = [Text.get_window_extent(t) for t in ax.texts]  # the text alone, not its leader line
    assert len(boxes) >= 2
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_disturbed_steps_are_ringed_and_an_arm_left_with_nothing_to_judge_says_so(tmp_path):
    from bench.output.charts import DISTURBED_LABEL

    draw_all(load_run(ALL), tmp_path / "lone")
    assert "disturbed" not in _svg(tmp_path / "lone", "throughput")
    run = load_run(ALL)
    for row in run.steps:
        # The recipe's rate steps, and every step of gevent-pool, saturation included.
        if (row["architecture"] == "prefork-nullpool" and not row["saturation"]) or row[
            "architecture"
        ] == "gevent-pool":
            row["disturbed"], row["foreign_cpu_percent"] = True, 60.0
    draw_all(run, tmp_path / "busy")
    throughput, latency = _svg(tmp_path / "busy", "throughput"), _svg(tmp_path / "busy", "latency")
    assert 'id="disturbed-prefork-nullpool"' in throughput and 'id="disturbed-async-queue"' not in throughput
    assert 'id="disturbed-p99-prefork-nullpool"' in latency and 'id="disturbed-p50-gevent-pool"' in latency
    assert DISTURBED_LABEL in throughput and DISTURBED_LABEL in latency
    answer = _svg(tmp_path / "busy", "answer")
    assert "nothing to judge: every step of it was disturbed by a neighbour" in answer
    assert answer.count("nothing to judge") == 1  # the recipe kept its ceiling
