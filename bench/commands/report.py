"""`bench report RUN`: plots/<run-id>/report.html, one self-contained page (charts embedded)."""

from __future__ import annotations

import argparse

from bench.commands.plot import add_run_arguments
from bench.console import stdout
from bench.report import write_report
from bench.results import find_run, load_run

NAME = "report"
HELP = "write plots/<run-id>/report.html, a self-contained page with the summary, charts and environment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")


def run(args: argparse.Namespace) -> int:
    data = load_run(find_run(args.results_dir, args.run))
    stdout.print(f"report: {write_report(data, args.plots_dir / data.run_id)}")
    return 0
