"""`bench plot RUN`: the charts of a run, redrawn from its results files, into plots/<run-id>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.output.charts import draw_all
from bench.output.console import stdout
from bench.record.results import find_run, load_run

NAME = "plot"
HELP = "draw a run's charts (PNG and SVG) into plots/<run-id>/"


def add_run_arguments(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        parser.add_argument(name, help="run folder, or run id (or a unique prefix of one) under --results-dir")
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--plots-dir", type=Path, default=Path("plots"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")


def run(args: argparse.Namespace) -> int:
    data = load_run(find_run(args.results_dir, args.run))
    paths = draw_all(data, args.plots_dir / data.run_id)
    stdout.print(f"charts: {', '.join(str(p) for p in paths)} (and .svg)")
    return 0
