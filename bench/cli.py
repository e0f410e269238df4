"""The `bench` command: sub-commands are the modules of bench/commands (each owns its arguments).

Exit codes: 0 done, 1 the run failed, 2 bad input (one line on stderr, no traceback), 3 a server bench
started died mid-run (one line on stderr, finished steps kept), 4 with a target rate, the recipe does not
hold target x headroom (one line on stderr, the run complete; bench/analysis/verdict.py), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import NoReturn

from bench import __version__, commands
from bench.errors import BenchError

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="bench",
        description="Measure how ways of running database work in background tasks behave as the task rate grows.",
    )
    parser.add_argument("--version", action="version", version=f"bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.handler(args)
    except BenchError as exc:
        sys.stderr.write(f"bench: error: {exc}\n")
        return EXIT_BAD_INPUT
