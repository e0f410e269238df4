"""`bench runs`: the runs in results/, newest last."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from bench.output.console import stdout

NAME = "runs"
HELP = "list the runs in results/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", type=Path, default=Path("results"))


def run(args: argparse.Namespace) -> int:
    table = Table(title=f"runs in {args.results_dir}")
    for column in ("run id", "started", "status", "profile", "workload", "architectures", "steps"):
        table.add_column(column)
    for meta_path in sorted(args.results_dir.glob("*/run.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        profile = meta.get("profile", {})
        table.add_row(
            meta.get("run_id", meta_path.parent.name),
            str(meta.get("started_at", ""))[:19],
            str(meta.get("status")),
            str(profile.get("name")),
            str(profile.get("workload")),
            ", ".join(profile.get("architectures", [])),
            str(meta.get("steps_finished", "")),
        )
    stdout.print(table)
    return 0
