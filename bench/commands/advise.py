"""`bench advise RUN`: when to leave the NullPool recipe, from a run's results; writes advice.json."""

from __future__ import annotations

import argparse

from bench.advice import advise, limits_for
from bench.commands.plot import add_run_arguments
from bench.console import stdout
from bench.results import RunFolder, find_run, load_run

NAME = "advise"
HELP = "say up to what rate the NullPool recipe holds, what limits it and which architecture to move to"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")
    parser.add_argument("--slo-p99-ms", type=float, help="p99 latency target (default: the run's profile, else 500)")
    parser.add_argument("--connection-budget", type=int,
                        help="connections the database can give these workers (default: the run's profile, "
                             "else the server's max_connections less 5)")


def run(args: argparse.Namespace) -> int:
    data = load_run(find_run(args.results_dir, args.run))
    advice = advise(data, limits_for(data, args.slo_p99_ms, args.connection_budget))
    RunFolder(data.path).write_advice(advice)
    for line in advice["text"]:
        stdout.print(line)
    stdout.print(f"advice: {data.path / 'advice.json'}")
    return 0
