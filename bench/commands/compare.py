"""`bench compare BASELINE CONTENDER`: each headline metric per architecture and step, and overlay charts."""

from __future__ import annotations

import argparse
import csv
import io
import math

from rich import box
from rich.table import Table

from bench.output.charts import draw_overlay
from bench.commands.plot import add_run_arguments
from bench.analysis.compare import DRIFT_FACTOR, TAIL_DRIFT_FACTOR, Difference, compare_runs
from bench.output.console import stdout
from bench.errors import BenchError
from bench.record.results import find_run, load_run

NAME = "compare"
HELP = (
    "compare two runs metric by metric (difference, difference %%, and better, worse, same, not significant, "
    "drift unknown or no repeats, with the evidence), with overlay charts"
)
COLUMNS = [
    "architecture",
    "step",
    "metric",
    "baseline",
    "contender",
    "diff",
    "diff_percent",
    "higher_is_better",
    "verdict",
    "evidence",
]
COLOURS = {
    "better": "green",
    "worse": "red",
    "not significant": "dim",
    "same": "dim",
    "no repeats": "dim",
    "drift unknown": "dim",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "baseline", "contender")
    parser.add_argument("--format", choices=["table", "markdown", "csv"], default="table")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="the table with every column (default: those that fit 100 terminal columns; csv and "
        "markdown always have all)",
    )
    parser.add_argument(
        "--drift-factor",
        type=_drift_factor,
        metavar="X",
        help=f"single runs: how many times larger a latency, throughput or rate must be for a "
        f"verdict (default {DRIFT_FACTOR:g}, {TAIL_DRIFT_FACTOR:g} for p99: two single runs of "
        f"one profile drift by up to 1.5x and more on a small shared VM, their p99 more)",
    )


def run(args: argparse.Namespace) -> int:
    baseline = load_run(find_run(args.results_dir, args.baseline))
    contender = load_run(find_run(args.results_dir, args.contender))
    differences = compare_runs(baseline, contender, args.drift_factor)
    if not differences:
        raise BenchError(f"{baseline.run_id} and {contender.run_id} share no (architecture, step) to compare")
    charts = draw_overlay(baseline, contender, args.plots_dir / f"compare-{baseline.run_id}-{contender.run_id}")
    if args.format == "csv":
        print(as_csv(differences), end="")
    elif args.format == "markdown":
        print(as_markdown(differences, baseline.run_id, contender.run_id))
    else:
        stdout.print(as_table(differences, baseline.run_id, contender.run_id, args.wide))
        stdout.print(f"overlay charts: {', '.join(str(p) for p in charts)}")
    return 0


def _drift_factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"takes a factor of 1 or more, got {text!r}")
    return value


def _row(d: Difference) -> list[str]:
    return [
        d.architecture,
        d.step,
        d.metric,
        _num(d.baseline),
        _num(d.contender),
        f"{d.diff:+.4g}",
        "" if math.isnan(d.diff_percent) else f"{d.diff_percent:+.1f}%",
        str(d.higher_is_better),
        d.verdict,
        d.evidence,
    ]


def _num(value: float) -> str:
    return f"{value:.4g}"


def as_csv(differences: list[Difference]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(_row(d) for d in differences)
    return out.getvalue()


def as_markdown(differences: list[Difference], a: str, b: str) -> str:
    lines = [f"Baseline `{a}`, contender `{b}`.", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for d in differences:
        cells = _row(d)
        if d.verdict in ("better", "worse"):
            cells[-2] = f"**{d.verdict}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NARROW = ["architecture", "step", "metric", "baseline", "contender", "diff_percent", "verdict"]
"""The table's columns in 100 terminal columns; --wide adds the difference, the direction and the evidence."""
TEXT_COLUMNS = ("architecture", "metric", "verdict", "evidence")
NARROW_TABLE_WIDTH = 100
NARROW_WIDTHS = {"architecture": 16, "metric": 22}
"""Longer names fold onto a second line, so the table stays within 100 columns."""


def as_table(differences: list[Difference], a: str, b: str, wide: bool = False) -> Table:
    shown = COLUMNS if wide else NARROW
    table = Table(
        title=f"baseline {a} vs contender {b}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        title_justify="left",
        width=None if wide else NARROW_TABLE_WIDTH,
    )
    for column in shown:
        text = column in TEXT_COLUMNS
        table.add_column(
            "diff %" if column == "diff_percent" else column,
            justify="left" if text else "right",
            no_wrap=not text,
            overflow="fold",
            max_width=None if wide else NARROW_WIDTHS.get(column),
        )
    for d in differences:
        cells = dict(zip(COLUMNS, _row(d)))
        colour = COLOURS.get(d.verdict, "")
        table.add_row(*[f"[{colour}]{cells[c]}[/]" if colour else cells[c] for c in shown])
    return table
