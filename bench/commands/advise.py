"""`bench advise RUN`: when to leave the NullPool recipe, from a run's results; writes advice.json."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict

from rich.table import Table

from bench.analysis.advice import advise, limits_for
from bench.analysis.verdict import EXIT_SHORT_OF_TARGET
from bench.commands.run import verdict_exit
from bench.errors import BenchError
from bench.commands.plot import add_run_arguments
from bench.output.console import stdout
from bench.analysis.model import Prediction, components, predict
from bench.record.results import RunFolder, find_run, load_run

NAME = "advise"
HELP = "say up to what rate the NullPool recipe holds, what limits it and which architecture to move to"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")
    parser.add_argument("--slo-p99-ms", type=float, help="p99 latency target (default: the run's profile, else 500)")
    parser.add_argument(
        "--connection-budget",
        type=int,
        help="connections the database can give these workers (default: the run's profile, "
        "else the server's max_connections less 5)",
    )
    parser.add_argument(
        "--target-rate",
        type=_positive,
        metavar="RATE",
        help="your peak rate, tasks/s (default: the run's profile): the recipe's headroom and the "
        "least-effort way out that holds it with room to grow",
    )
    parser.add_argument(
        "--headroom",
        type=_factor,
        metavar="FACTOR",
        help="room to grow above the target that must be held (default: the run's profile, else 1.5)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_SHORT_OF_TARGET} when the recipe does not hold target x headroom (needs a target)",
    )

    what_if = parser.add_argument_group("a what-if of your own for the prefork-nullpool capacity model")
    what_if.add_argument("--processes", type=int, help="worker processes")
    what_if.add_argument("--rtt-ms", type=float, help="round-trip time to the database, ms (default: as measured)")
    what_if.add_argument("--auth", choices=["scram-sha-256", "trust"])
    what_if.add_argument("--ssl", choices=["on", "off"])


def _positive(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"takes a number of tasks/s above 0, got {text!r}")
    return value


def _factor(text: str) -> float:
    value = _float(text)
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"takes a factor of 1 or more, got {text!r}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def run(args: argparse.Namespace) -> int:
    data = load_run(find_run(args.results_dir, args.run))
    limits = limits_for(data, args.slo_p99_ms, args.connection_budget, args.target_rate, args.headroom)
    if args.check and not limits.target_rate:
        raise BenchError("--check needs a target rate: --target-rate RATE, or a run made with one")
    advice = advise(data, limits)
    c = components(data.at_distance(data.distances[0]))  # the model is built from the first distance
    if c is not None:
        custom = predict(c, args.processes, args.rtt_ms, args.auth, None if args.ssl is None else args.ssl == "on")
        advice["model"]["custom_what_if"] = asdict(custom)
    RunFolder(data.path).write_advice(advice)
    for line in advice["text"]:
        stdout.print(line)
    if c is not None:
        stdout.print(model_table(advice["model"], custom))
    stdout.print(f"advice: {data.path / 'advice.json'}")
    return verdict_exit(advice) if args.check else 0


def model_table(model: dict, custom: Prediction) -> Table:
    table = Table(title="prefork-nullpool capacity model: predicted saturation throughput (tasks/s)")
    # predicted: mean value analysis, under both asymptotes (processes, CPU); the busiest CPU set at it.
    for column in (
        "setting",
        "predicted/s",
        "processes allow/s",
        "CPU allows/s",
        "busiest CPU %",
        "task ms",
        "bound by",
    ):
        table.add_column(column, justify="left" if column in ("setting", "bound by") else "right")
    for p in [*(Prediction(**w) for w in model["what_ifs"]), custom]:
        table.add_row(
            p.setting,
            f"{p.throughput_per_s:.0f}",
            f"{p.process_bound_per_s:.0f}",
            f"{p.cpu_bound_per_s:.0f}",
            f"{100 * max(p.utilization.values(), default=0):.0f}",
            f"{p.exec_ms:.2f}",
            p.bound_by,
        )
    return table
