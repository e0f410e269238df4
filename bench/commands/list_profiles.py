"""`bench list-profiles`: the profiles in bench.toml, resolved through their bases."""

from __future__ import annotations

import argparse

from rich.table import Table

from bench.settings.config_file import add_config_argument, load_config
from bench.settings.config import default_profile_name, profile_names, resolve_profile
from bench.output.console import stdout

NAME = "list-profiles"
HELP = "list the profiles in bench.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    default = default_profile_name(config)
    table = Table(title="profiles")
    for column in ("profile", "base", "architectures", "workload", "rates /s", "step s", "warm-up s", "arrival"):
        table.add_column(column)
    for name in profile_names(config):
        p = resolve_profile(config, name, {}, environ={})
        table.add_row(
            name + (" (default)" if name == default else ""),
            config["profiles"][name].get("base", ""),
            ", ".join(p.architectures),
            p.workload,
            ", ".join(r if isinstance(r, str) else f"{r:g}" for r in p.rates),
            f"{p.step_seconds:g}",
            f"{p.warmup_seconds:g}",
            p.arrival,
        )
    stdout.print(table)
    return 0
