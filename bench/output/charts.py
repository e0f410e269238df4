"""Charts of a run, drawn from its results files alone (matplotlib, PNG and SVG).

One colour per architecture, the same in every chart of every run; axes carry units; titles name
the profile, the workload and the machine.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from pathlib import Path
from typing import cast

import matplotlib

matplotlib.use("Agg")  # files only, no display
# Text stays text in SVG (not glyph outlines), so charts can be searched and checked after the fact.
matplotlib.rcParams["svg.fonttype"] = "none"
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bench.analysis.bursts import burst_summary  # noqa: E402
from bench.settings.arms import SEPARATOR, VARIANT, architecture_of  # noqa: E402
from bench.record.results import RunData  # noqa: E402

_SPARE_COLORS = ["#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]
OTHER_BROKER_MARKER = "s"
"""An architecture run once more on another broker (name@rabbitmq) keeps its colour, with square markers."""
ANSWER_CHART = "answer"
"""The report's first chart (bench/output/answer_chart.py), drawn for every run."""
CHART_NAMES = [ANSWER_CHART, "throughput", "latency", "connections", "handshake", "errors"]
DISTANCE_CHART = "distance"
"""Drawn, and shown in the report, only for a run that stepped through several distances (rtt_ms)."""
DISTANCE_MARKERS = ["o", "s", "^", "D", "v", "P"]
BURSTS_CHART = "bursts"
"""Drawn, and shown in the report, only for a run with burst steps (rate "burst")."""


def color(architecture: str) -> str:
    """The architecture's colour, its class's `color` (an arm on another broker has its architecture's);
    one without, or unknown, gets a spare chosen by its name, so it is stable too. An arm `name#variant`
    gets a shade of it chosen by the variant's name, so that two variants of one architecture in a run
    (behind PgBouncer 1.18 and 1.24) can be told apart."""
    from bench.architectures import architecture_classes

    variant = architecture.partition(VARIANT)[2].partition(SEPARATOR)[0]
    architecture = architecture_of(architecture)
    cls = architecture_classes().get(architecture)
    base = (
        cls.color if cls is not None and cls.color else _SPARE_COLORS[sum(map(ord, architecture)) % len(_SPARE_COLORS)]
    )
    if not variant:
        return base
    return _shade(base, VARIANT_SHADES[zlib.crc32(variant.encode()) % len(VARIANT_SHADES)])


VARIANT_SHADES = (-0.4, 0.35, 0.6)
"""How far a variant's colour is mixed toward black (below 0) or white (above 0)."""


def _shade(hex_color: str, amount: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    target = 255 if amount > 0 else 0
    mixed = (round(c + (target - c) * abs(amount)) for c in (red, green, blue))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def series(run: RunData) -> list[tuple[str, str, RunData, str]]:
    """(label, architecture, the run's steps of it at one distance, marker) for each line to draw: one per
    architecture, or per architecture and distance where the run stepped through several."""
    distances = run.distances
    if len(distances) < 2:
        return [(arch, arch, run, OTHER_BROKER_MARKER if SEPARATOR in arch else "o") for arch in run.architectures]
    out = []
    for index, rtt in enumerate(distances):
        part = run.at_distance(rtt)
        marker = DISTANCE_MARKERS[index % len(DISTANCE_MARKERS)]
        out += [(f"{arch} @ rtt {rtt:g} ms", arch, part, marker) for arch in part.architectures]
    return out


LARGEST_MARKER, SMALLEST_MARKER = 10.0, 4.0


def marker_sizes(count: int) -> list[float]:
    """Marker sizes for `count` lines drawn in turn, the first largest: where arms land on the same
    point (ways out that all held the one rate they ran), each shows as a ring around the next instead
    of hiding under the last one drawn."""
    if count < 2:
        return [6.0] * count
    return [LARGEST_MARKER - (LARGEST_MARKER - SMALLEST_MARKER) * i / (count - 1) for i in range(count)]


def gid_of(label: str) -> str:
    return label.replace(" @ rtt ", "-rtt").replace(" ms", "ms")


def title(run: RunData, what: str) -> str:
    host = run.meta.get("host", {})
    profile = run.meta.get("profile", {})
    return (
        f"{what} — profile {profile.get('name', '?')}, workload {profile.get('workload', '?')}, "
        f"{host.get('cpu_count', '?')} cores, {host.get('memory_gib', '?')} GiB"
    )


def rate_groups(run: RunData, architecture: str, column: str) -> dict[float, list[float]]:
    """Offered rate -> the values of `column` over the repetitions of that rate step, ascending rates."""
    groups: dict[float, list[float]] = defaultdict(list)
    for row in run.steps:
        if row["architecture"] == architecture and not row.get("saturation") and row.get(column) is not None:
            groups[row["offered_rate_per_s"]].append(row[column])
    return dict(sorted(groups.items()))


def disturbed_points(run: RunData, architecture: str, column: str) -> tuple[list[float], list[float]]:
    """(offered rate, `column`) of the architecture's rate steps a neighbour disturbed: drawn with the
    others, ringed, since the advice leaves them out (bench.record.schema.FOREIGN_LIMIT_PERCENT)."""
    points = [
        (row["offered_rate_per_s"], row[column])
        for row in run.steps
        if row["architecture"] == architecture
        and not row.get("saturation")
        and row.get("disturbed")
        and row.get(column) is not None
    ]
    return [rate for rate, _ in points], [value for _, value in points]


RING = {"s": 160, "facecolors": "none", "edgecolors": "black", "linewidths": 1.2}
DISTURBED_LABEL = "ringed: disturbed by a neighbour, left out of the advice"


def ring_disturbed(ax, rates: list[float], values: list[float], gid: str) -> bool:
    """Ring the disturbed points; True when there were any (the chart then explains the ring)."""
    if rates:
        ax.scatter(rates, values, zorder=5, gid=gid, **RING)
    return bool(rates)


def explain_rings(ax) -> None:
    """The legend's entry for the rings."""
    ax.scatter([], [], label=DISTURBED_LABEL, **RING)


def rate_points(run: RunData, architecture: str, column: str) -> tuple[list[float], list[float]]:
    """(offered rate, mean of `column` over repetitions) for the architecture's rate steps."""
    groups = rate_groups(run, architecture, column)
    return list(groups), [sum(v) / len(v) for v in groups.values()]


def label_axes(ax, xlabel: str, ylabel: str, chart_title: str, legend_columns: int = 1) -> None:
    """Units on both axes, the title, a legend and a light grid: the same on every chart."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(chart_title, fontsize=9)
    ax.legend(fontsize=7 if legend_columns > 1 else 8, ncol=legend_columns)
    ax.grid(alpha=0.3, which="both")


def chart_names(run: RunData) -> list[str]:
    return (
        CHART_NAMES + ([DISTANCE_CHART] if len(run.distances) > 1 else []) + ([BURSTS_CHART] if run.burst_steps else [])
    )


def draw_all(run: RunData, out_dir: Path, advice: dict | None = None) -> list[Path]:
    """Write every chart as PNG and SVG into out_dir; return the PNG paths. `advice`: the run's, where
    the caller has it (the answer chart draws from it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    from bench.output.answer_chart import answer_chart

    drawers = {
        ANSWER_CHART: lambda run: answer_chart(run, advice),
        "throughput": throughput_chart,
        "latency": latency_chart,
        "connections": connections_chart,
        "handshake": handshake_chart,
        "errors": errors_chart,
        DISTANCE_CHART: distance_chart,
        BURSTS_CHART: bursts_chart,
    }
    paths = []
    for name in chart_names(run):
        fig = drawers[name](run)
        for suffix in ("png", "svg"):
            fig.savefig(out_dir / f"{name}.{suffix}", dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(out_dir / f"{name}.png")
    return paths


def throughput_chart(run: RunData):
    fig, ax = plt.subplots(figsize=(8, 5))
    top = 0.0
    drain_labels: list[tuple[float, str, str]] = []
    drain_runs = 0
    disturbed = False
    lines = series(run)
    for (label, arch, part, marker), size in zip(lines, marker_sizes(len(lines))):
        groups = rate_groups(part, arch, "throughput_per_s")
        rates, values = list(groups), [sum(v) / len(v) for v in groups.values()]
        key = gid_of(label)
        ax.plot(rates, values, marker=marker, markersize=size, color=color(arch), label=label, gid=f"throughput-{key}")
        disturbed |= ring_disturbed(ax, *disturbed_points(part, arch, "throughput_per_s"), gid=f"disturbed-{key}")
        if any(len(v) > 1 for v in groups.values()):  # repetitions: their range as error bars
            ax.errorbar(
                rates,
                values,
                yerr=_range_errors(values, list(groups.values())),
                fmt="none",
                ecolor=color(arch),
                capsize=3,
                gid=f"throughput-range-{key}",
            )
        drain = part.saturation(arch)
        if drain is not None:
            # The median drain rate, and the band its repetitions spanned.
            ax.axhline(drain.median, color=color(arch), linestyle=":", linewidth=1, gid=f"drain-{key}")
            if drain.count > 1:
                ax.axhspan(drain.low, drain.high, color=color(arch), alpha=0.15, linewidth=0, gid=f"drain-range-{key}")
            spread = f" ({drain.low:.0f}–{drain.high:.0f})" if drain.count > 1 else ""
            drain_labels.append((drain.median, f"{label} {drain.median:.0f}/s{spread}", color(arch)))
            drain_runs = max(drain_runs, drain.count)
        top = max([top, *rates])
    if top:
        ax.plot([0, top], [0, top], color="black", linestyle="--", linewidth=1, label="ideal (throughput = offered)")
    if drain_labels:
        shaded = f", median of {drain_runs} runs, min–max shaded" if drain_runs > 1 else ""
        ax.plot([], [], color="grey", linestyle=":", linewidth=1, label=f"drain rate at saturation{shaded} (right)")
    if disturbed:
        explain_rings(ax)
    _place_drain_labels(ax, drain_labels)
    label_axes(ax, "offered rate (tasks/s)", "throughput (tasks/s)", title(run, "Throughput vs offered rate"))
    return fig


def _place_drain_labels(ax, labels: list[tuple[float, str, str]]) -> None:
    """Each drain line named in the right margin, level with it, or moved up (with a leader line) where
    it would print over a lower one's: drain rates a few percent apart, such as one architecture on
    two brokers."""
    low, high = ax.get_ylim()
    gap = (high - low) * 0.04  # one line of 7-point text on a 5-inch chart
    placed = -math.inf
    for median, text, colour in sorted(labels):
        placed = max(median, placed + gap)
        ax.annotate(
            text,
            xy=(1.0, median),
            xycoords=("axes fraction", "data"),
            xytext=(1.03, placed),
            textcoords=("axes fraction", "data"),
            color=colour,
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6},
        )


def _range_errors(centres: list[float], groups: list[list[float]]) -> list[list[float]]:
    """Error bar lengths below and above each centre, reaching the group's min and max."""
    return [[c - min(g) for c, g in zip(centres, groups)], [max(g) - c for c, g in zip(centres, groups)]]


def latency_chart(run: RunData):
    fig, ax = plt.subplots(figsize=(8, 5))
    lines = series(run)
    disturbed = False
    for (label, arch, part, marker), size in zip(lines, marker_sizes(len(lines))):
        for column, style in (("latency_p50_ms", "--"), ("latency_p99_ms", "-")):
            rates, values = rate_points(part, arch, column)
            quantile = column.split("_")[1]
            ax.plot(
                rates,
                values,
                linestyle=style,
                marker=marker,
                markersize=size,
                color=color(arch),
                label=f"{label} {quantile}",
                gid=f"latency-{quantile}-{gid_of(label)}",
            )
            gid = f"disturbed-{quantile}-{gid_of(label)}"
            disturbed |= ring_disturbed(ax, *disturbed_points(part, arch, column), gid=gid)
    if disturbed:
        explain_rings(ax)
    ax.set_yscale("log")
    label_axes(
        ax,
        "offered rate (tasks/s)",
        "end-to-end latency from scheduled arrival (ms, log)",
        title(run, "Latency p50 (dashed) and p99 (solid)"),
        legend_columns=2,
    )
    return fig


def connections_chart(run: RunData):
    fig, ax = plt.subplots(figsize=(9, 5))
    by_arch: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for sample in run.samples:
        if sample.get("architecture"):
            xs, ys = by_arch[sample["architecture"]]
            xs.append(sample["elapsed_s"])
            ys.append(sample["connections"])
    for arch, (xs, ys) in by_arch.items():
        ax.plot(xs, ys, color=color(arch), label=arch, linewidth=1, gid=f"connections-{arch}")
    last_s = max((s["elapsed_s"] for s in run.samples), default=0.0)
    for index, outage in enumerate(run.meta.get("outages") or []):
        end = (
            outage["end_s"] if outage["end_s"] is not None else max(last_s, outage["start_s"])
        )  # still down at the end
        ax.axvspan(
            outage["start_s"],
            end,
            color="#999999",
            alpha=0.3,
            linewidth=0,
            gid=f"outage-{index}",
            label=f"{outage['server']} not answering ({end - outage['start_s']:.1f} s)",
        )
    max_connections = run.meta.get("server", {}).get("max_connections")
    if max_connections:
        ax.axhline(
            max_connections,
            color="black",
            linestyle="--",
            linewidth=1,
            gid="max-connections",
            label=f"server max_connections ({max_connections})",
        )
    label_axes(
        ax, "time since run start (s)", "benchmark connections (pg_stat_activity)", title(run, "Connections over time")
    )
    return fig


def handshake_chart(run: RunData):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, arch, part, marker in series(run):
        rates, sessions = rate_points(part, arch, "sessions_per_task")
        left.plot(rates, sessions, marker=marker, color=color(arch), label=label, gid=f"sessions-{gid_of(label)}")
        rates, share = rate_points(part, arch, "connect_share")
        right.plot(
            rates,
            [100 * s for s in share],
            marker=marker,
            color=color(arch),
            label=label,
            gid=f"connect-share-{gid_of(label)}",
        )
    left.set_xlabel("offered rate (tasks/s)")
    left.set_ylabel("connections opened per task (server count)")
    right.set_xlabel("offered rate (tasks/s)")
    right.set_ylabel("share of task time spent connecting (%)")
    left.set_ylim(bottom=0, top=max(1.05, left.get_ylim()[1]))  # from zero, so small changes look small
    right.set_ylim(0, 100)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title(run, "Handshake overhead"), fontsize=9)
    return fig


def distance_chart(run: RunData):
    """What the database's distance does: each architecture's saturation drain rate (median, min–max
    as error bars) and the recipe's connect and task time against the RTT, with the model beside them."""
    from bench.analysis.model import model_report
    from bench.analysis.rules import RECIPE

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    distances = [d for d in run.distances if d is not None]
    for arch in run.architectures:
        points = [(d, spread) for d in distances if (spread := run.at_distance(d).saturation(arch))]
        if points:
            xs, spreads = [d for d, _ in points], [p for _, p in points]
            left.errorbar(
                xs,
                [p.median for p in spreads],
                yerr=[[p.median - p.low for p in spreads], [p.high - p.median for p in spreads]],
                marker="o",
                color=color(arch),
                capsize=3,
                label=f"{arch} (measured)",
                gid=f"distance-drain-{arch}",
            )
    table = (model_report(run) or {}).get("distances") or []
    if table:
        rtts = [row["rtt_ms"] for row in table]
        left.plot(
            rtts,
            [row["predicted_saturation_per_s"] for row in table],
            linestyle="--",
            color=color(RECIPE),
            label=f"{RECIPE} (capacity model)",
            gid="distance-model",
        )
        for column, style, what in (("connect_p50_ms", "-", "connect p50"), ("exec_p50_ms", "-.", "task p50")):
            right.plot(
                rtts,
                [row[column] for row in table],
                marker="o",
                linestyle=style,
                color=color(RECIPE),
                label=f"{what} (measured)",
                gid=f"distance-{column}",
            )
            right.plot(
                rtts,
                [row[f"predicted_{column}"] for row in table],
                marker="x",
                linestyle=":",
                color="black",
                label=f"{what} (model: {table[0]['connect_round_trips' if what.startswith('connect') else 'task_round_trips']} round trips × RTT)",
                gid=f"distance-predicted-{column}",
            )
    left.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    label_axes(
        left, "round-trip time to the database (ms)", "saturation drain rate (tasks/s)", "Drain rate at each distance"
    )
    label_axes(
        right,
        "round-trip time to the database (ms)",
        f"{RECIPE} time at its lowest rate (ms)",
        "Connect and task time vs the model",
    )
    fig.suptitle(title(run, "The database at a distance"), fontsize=9)
    return fig


def bursts_chart(run: RunData):
    """Each arm's drain time burst by burst (its first send to its last task's end), beside the time
    the arm's own saturation drain rate would take for a burst, where the run measured one."""
    fig, ax = plt.subplots(figsize=(8, 5))
    tasks, top = None, 0.0
    summary = burst_summary(run)
    for row in run.burst_steps:
        arch = row["architecture"]
        facts = sorted(run.side("bursts", row), key=lambda f: f["burst"])
        label = arch if row.get("repetition") in (0, None) else f"{arch} (run {int(row['repetition']) + 1})"
        ax.plot(
            [int(f["burst"]) + 1 for f in facts],
            [f["drain_s"] for f in facts],
            marker="o",
            color=color(arch),
            label=label,
            gid=f"bursts-{arch}-{int(row.get('repetition') or 0)}",
        )
        tasks = tasks or (int(facts[0]["tasks"]) if facts else None)
        top = max([top, *(f["drain_s"] or 0 for f in facts)])
        predicted = summary.get(arch, {}).get("predicted_drain_s")
        if predicted and row.get("repetition") in (0, None):
            ax.axhline(predicted, color=color(arch), linestyle=":", linewidth=1, gid=f"bursts-expected-{arch}")
    ax.set_ylim(0, top * 1.35 or 1)  # headroom: the legend sits above the lines
    cast(MaxNLocator, ax.xaxis.get_major_locator()).set_params(integer=True)  # the default AutoLocator is one
    label_axes(
        ax,
        "burst",
        "drain time (s): first send to last task's end",
        f"Drain time of each burst of {tasks or '?'} tasks (dotted: burst / the arm's saturation drain rate)",
    )
    fig.suptitle(title(run, "Bursts"), fontsize=9)
    return fig


def errors_chart(run: RunData):
    fig, ax = plt.subplots(figsize=(10, 4.5))
    labels, counts = [], []
    for row in run.steps:
        rate = "max" if row.get("saturation") else f"{row['offered_rate_per_s']:g}/s"
        if row.get("rtt_ms") is not None:
            rate += f" @ {row['rtt_ms']:g} ms"
        labels.append(f"{row['architecture']} {rate}")  # one line: two, turned on end, overlap their neighbours
        counts.append({e["error"]: int(e["count"]) for e in run.side("errors", row)})
    types = sorted({t for c in counts for t in c})
    bottom = [0] * len(labels)
    for index, error_type in enumerate(types):
        values = [c.get(error_type, 0) for c in counts]
        ax.bar(
            range(len(labels)),
            values,
            bottom=bottom,
            label=error_type,
            color=plt.cm.tab10(index % 10),
            gid=f"errors-{error_type}",
        )
        bottom = [b + v for b, v in zip(bottom, values)]
    if not types:
        ax.text(0.5, 0.5, "no errors in any step", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(labels)), labels, fontsize=6, rotation=90)
    ax.set_ylabel("failed tasks per step (measured part)")
    ax.set_title(title(run, "Errors by exception type"), fontsize=9)
    if types:
        ax.legend(fontsize=8)
    return fig


def draw_overlay(baseline: RunData, contender: RunData, out_dir: Path) -> list[Path]:
    """Throughput and p99 latency of two runs on the same axes: baseline dashed, contender solid."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for column, label, log in (
        ("throughput_per_s", "throughput (tasks/s)", False),
        ("latency_p99_ms", "p99 latency from scheduled arrival (ms, log)", True),
    ):
        fig, ax = plt.subplots(figsize=(8, 5))
        for run, style in ((baseline, "--"), (contender, "-")):
            for arch in run.architectures:
                rates, values = rate_points(run, arch, column)
                ax.plot(
                    rates,
                    values,
                    linestyle=style,
                    marker="o",
                    color=color(arch),
                    label=f"{arch} ({run.run_id})",
                    gid=f"{column}-{run.run_id}-{arch}",
                )
        if log:
            ax.set_yscale("log")
        label_axes(ax, "offered rate (tasks/s)", label, f"{baseline.run_id} (dashed) vs {contender.run_id} (solid)")
        name = column.removesuffix("_per_s").removesuffix("_ms")
        for suffix in ("png", "svg"):
            fig.savefig(out_dir / f"{name}.{suffix}", dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(out_dir / f"{name}.png")
    return paths
