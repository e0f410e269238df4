"""The chart of the answer, the report's first: how far the recipe and each way out go.

Per arm, a bar to the rate it sustained (hatched where it held every rate it ran, so it may hold more)
and a marker at its ceiling with the min–max range of its drains; arms grouped and coloured by what
they ask of the code, least first; the team's target and target x headroom as vertical lines.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from bench.analysis.adoption import ways_out_rows  # noqa: E402
from bench.record.results import RunData  # noqa: E402

CLASS_COLOURS = {
    "the recipe": "#7f7f7f",
    "keeps the async code": "#1f77b4",
    "keeps the async code, adds a per-process loop": "#17becf",
    "needs a sync body": "#ff7f0e",
    "another task queue": "#9467bd",
}


def answer_chart(run: RunData, advice: dict | None = None):
    from bench.analysis.advice import advise, limits_for

    advice = advice or advise(run, limits_for(run))
    rows = ways_out_rows(run, advice)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 2.2))
    for y, row in enumerate(rows):
        _draw_arm(ax, y, row)
    ax.set_yticks(range(len(rows)), [r["architecture"] for r in rows], fontsize=9)
    # The recipe on top, then the least disruptive way out; each arm a band of its own, also one where
    # nothing but a line of text is drawn (left to autoscale, a lone such arm sat on the frame).
    ax.set_ylim(len(rows) - 0.5, -0.5)
    target = advice.get("target")
    if target:
        ax.axvline(target["target_rate_per_s"], color="#444", linestyle="--", linewidth=1)
        ax.axvline(target["needed_rate_per_s"], color="#d62728", linewidth=1.5)
    # Room past the highest drain for its label, "549 (486–744)", which starts there.
    ax.set_xlim(0, 1.2 * max([1.0, *(r["ceiling_high_per_s"] or r["rate_per_s"] or 0 for r in rows)]))
    ax.set_xlabel(
        "tasks/s: bar, the rate sustained (hatched: held every rate run, so at least this); "
        "marker, the ceiling (median and min–max of its drains)",
        fontsize=8,
    )
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"How far each way goes ({run.run_id}, {run.setting('workload')})", fontsize=10)
    ax.legend(
        handles=_legend(rows, target),
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
        frameon=False,
    )
    return fig


def _draw_arm(ax, y: int, row: dict) -> None:
    colour = CLASS_COLOURS.get(row["adoption"], "#bcbd22")
    rate = row["rate_per_s"]
    if rate:
        ax.barh(
            y,
            rate,
            height=0.6,
            color=colour,
            alpha=0.45,
            edgecolor=colour,
            hatch="//" if row["every_rate"] else None,
            gid=f"sustained-{row['architecture']}",
        )
        # Inside the bar's end: a ceiling marker just past it cannot cover it.
        ax.text(
            rate,
            y,
            f"{'≥' if row['every_rate'] else ''}{rate:g} ",
            va="center",
            ha="right",
            fontsize=8,
            fontweight="bold",
        )
    ceiling = row["ceiling_per_s"]
    if not rate and not ceiling and row["disturbed_steps"]:
        # Without this the arm's row is blank, as if it had not run.
        ax.text(0, y, "  nothing to judge: every step of it was disturbed by a neighbour", va="center", fontsize=8)
    if ceiling:
        low, high = row["ceiling_low_per_s"], row["ceiling_high_per_s"]
        ax.errorbar(
            ceiling,
            y,
            xerr=[[ceiling - low], [high - ceiling]],
            fmt="D",
            color=colour,
            markeredgecolor="black",
            ecolor="black",
            capsize=4,
            markersize=7,
            gid=f"ceiling-{row['architecture']}",
        )
        spread = f"{ceiling:.0f} ({low:.0f}–{high:.0f})" if row["ceiling_runs"] > 1 else f"{ceiling:.0f}"
        ax.text(high, y - 0.32, f" {spread}", va="center", fontsize=7, color="#333")


def _legend(rows: list[dict], target: dict | None) -> list[Artist]:
    handles: list[Artist] = [
        Patch(facecolor=CLASS_COLOURS.get(kind, "#bcbd22"), alpha=0.6, label=kind)
        for kind in dict.fromkeys(r["adoption"] for r in rows)
    ]
    handles.append(Line2D([], [], marker="D", color="black", linestyle="", label="ceiling (drains, min–max)"))
    if target:
        handles.append(Line2D([], [], color="#444", linestyle="--", label=f"target {target['target_rate_per_s']:g}/s"))
        handles.append(Line2D([], [], color="#d62728", label=f"target x headroom {target['needed_rate_per_s']:g}/s"))
    return handles
