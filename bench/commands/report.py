"""`bench report RUN`: plots/<run-id>/report.html, one self-contained page (charts embedded)."""

from __future__ import annotations

import argparse
import sys

from bench.commands.plot import add_run_arguments
from bench.output.console import stdout
from bench.output.report import write_report
from bench.record.results import find_run, load_run

NAME = "report"
HELP = (
    "write plots/<run-id>/report.html, a self-contained page with the answer, summary, charts and "
    "environment; or print the answer and the summary as Markdown"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")
    parser.add_argument(
        "--format",
        choices=["html", "markdown"],
        default="html",
        help="html: plots/<run-id>/report.html; markdown: the answer, the ways out, the advice and "
        "the summary table on stdout (for a CI job summary or a pull-request comment)",
    )


def run(args: argparse.Namespace) -> int:
    data = load_run(find_run(args.results_dir, args.run))
    if args.format == "markdown":
        from bench.analysis.advice import advise, limits_for
        from bench.output.report_answer import markdown

        sys.stdout.write(markdown(data, advise(data, limits_for(data))))
        return 0
    stdout.print(f"report: {write_report(data, args.plots_dir / data.run_id)}")
    return 0
