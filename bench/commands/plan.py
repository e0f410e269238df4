"""`bench plan RUN --rate R`: what rate R would need of each role, per architecture, from a run's per-task costs."""

from __future__ import annotations

import argparse

from rich.table import Table

from bench.record.limits import RESERVED_CONNECTIONS
from bench.analysis.plan import Budget, Need, crossover_sentence, plan
from bench.commands.plot import add_run_arguments
from bench.output.console import stdout
from bench.errors import BenchError
from bench.record.results import find_run, load_run

NAME = "plan"
HELP = "what a task rate would need of worker, database and broker cores and connections, per architecture"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, "run")
    parser.add_argument("--rate", type=float, required=True, help="tasks/s to plan for")
    parser.add_argument(
        "--rtt-ms", type=float, help="round-trip time to the database, ms (default: as the run measured)"
    )
    parser.add_argument("--db-cores", type=float, help="cores the database may use")
    parser.add_argument("--worker-cores", type=float, help="cores the workers may use")
    parser.add_argument("--broker-cores", type=float, help="cores the broker may use")
    parser.add_argument(
        "--connections",
        type=int,
        help="connections the database can give the workers (default: the run's max_connections less 5)",
    )


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0 or (args.rtt_ms is not None and args.rtt_ms < 0):
        raise BenchError("--rate must be above 0 and --rtt-ms 0 or more")
    data = load_run(find_run(args.results_dir, args.run))
    connections = (
        args.connections
        or int(data.meta.get("server", {}).get("max_connections") or data.setting("max_connections"))
        - RESERVED_CONNECTIONS
    )
    budget = Budget(args.db_cores, args.worker_cores, args.broker_cores, connections)
    needs = plan(data, args.rate, budget, args.rtt_ms)
    if not needs:
        raise BenchError(f"{data.run_id} has no steps with per-task CPU costs to plan from")
    stdout.print(needs_table(needs, args.rate, args.rtt_ms))
    if (sentence := crossover_sentence(needs)) is not None:
        stdout.print(sentence)
    return 0


def needs_table(needs: list[Need], rate: float, rtt_ms: float | None) -> Table:
    distance = "rtt as measured" if rtt_ms is None else f"rtt {rtt_ms:g} ms"
    table = Table(title=f"what {rate:g} tasks/s would need ({distance})")
    columns = [
        "architecture",
        "processes",
        "worker cores",
        "db cores",
        "broker cores",
        "connections held",
        "opened/s",
        "short of",
        "budget allows/s",
        "limited by",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column in ("architecture", "short of", "limited by") else "right")
    for n in needs:
        allows = "-" if n.max_rate_per_s is None else f"{n.max_rate_per_s:.0f}"
        table.add_row(
            n.architecture,
            str(n.worker_processes),
            f"{n.worker_cores:.2f}",
            f"{n.db_cores:.2f}",
            f"{n.broker_cores:.2f}",
            f"{n.connections_held:.0f}",
            f"{n.connections_opened_per_s:.0f}",
            ", ".join(n.short_of) or "-",
            allows,
            n.limited_by or "-",
        )
    return table
