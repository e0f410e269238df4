"""`bench worker`: run the workers of another host's `bench run` (with `workers = "external"`)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from bench.output.console import stderr
from bench.processes import interrupt_on_signals

log = logging.getLogger(__name__)

NAME = "worker"
HELP = "on a worker host: run the architecture a `bench run` assigns, until that run ends"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--control",
        required=True,
        metavar="URL",
        help="the run's control channel (redis://...), as `bench run` prints it",
    )
    parser.add_argument("--database", metavar="URL", help="the database as this host reaches it (default: the run's)")
    parser.add_argument("--broker", metavar="URL", help="the broker as this host reaches it (default: the run's)")
    parser.add_argument("--processes", type=int, help="worker processes on this host (default: the run's)")
    parser.add_argument(
        "--log-dir", type=Path, help="where the workers' logs go (default: a temporary folder, removed)"
    )


def run(args: argparse.Namespace) -> int:
    from bench.hosts.agent_workspace import agent_workspace
    from bench.hosts.agents import Agent
    from bench.errors import BenchError
    from bench.urls import redact_url

    if args.processes is not None and args.processes < 1:
        raise BenchError(f"--processes must be at least 1, got {args.processes}")
    interrupt_on_signals()
    with agent_workspace("bench-worker-", args.log_dir, "agent.log") as (work_dir, log_dir):
        try:
            agent = Agent(args.control, args.database, args.broker, args.processes, work_dir, log_dir)
            stderr.print(f"bench worker {agent.id}: waiting for work on {redact_url(args.control)}")
            log.info(f"agent {agent.id} pid={os.getpid()} on {redact_url(args.control)}")
            agent.serve()
        except KeyboardInterrupt:
            log.info("interrupted")
            return 130
        except Exception as exc:  # the channel unreachable at start, say: one line, no traceback
            raise BenchError(f"bench worker: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return 0
