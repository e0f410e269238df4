"""`bench loadgen`: send a share of every step's arrivals for another host's `bench run`
(with `external_loadgens`), as a Locust worker of each step's master."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from bench.output.console import stderr
from bench.processes import interrupt_on_signals

log = logging.getLogger(__name__)

NAME = "loadgen"
HELP = "on a load generator host: send a share of each step's arrivals for a `bench run`, until that run ends"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--master",
        required=True,
        metavar="HOST:PORT",
        help="where the run's Locust master listens, as `bench run` prints it",
    )
    parser.add_argument("--broker", metavar="URL", help="the broker as this host reaches it (default: the run's)")
    parser.add_argument(
        "--log-dir", type=Path, help="where the load generator's log goes (default: a temporary folder, removed)"
    )


def _master_address(text: str) -> tuple[str, int]:
    from bench.errors import BenchError

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BenchError(f"--master takes HOST:PORT, as `bench run` prints it, got {text!r}")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    from bench.hosts.agent_workspace import agent_workspace
    from bench.errors import BenchError
    from bench.loadgen import NO_MASTER_EXIT, RUN_OVER_EXIT
    from bench.loadgen.protocol import SPEC_ENV
    from bench.processes import ChildProcess

    host, port = _master_address(args.master)
    spec = {"role": "worker", "master_host": host, "master_port": port, "broker_url": args.broker}
    env = {**os.environ, SPEC_ENV: json.dumps(spec)}
    interrupt_on_signals()
    stderr.print(f"bench loadgen: sending for the run whose master is at {host}:{port}")
    with agent_workspace("bench-loadgen-", args.log_dir, "agent.log") as (_work_dir, log_dir):
        see_log = f"; see {log_dir / 'loadgen.log'}" if args.log_dir else ""
        steps, child = 0, None
        try:
            # One Locust worker per step, since each step has a master of its own: the next one waits
            # (Locust retries for five minutes) for the next step's master at the same address.
            while True:
                child = ChildProcess(
                    "loadgen worker", [sys.executable, "-m", "bench.loadgen"], log_path=log_dir / "loadgen.log", env=env
                )
                code = child.popen.wait()
                child.stop()
                if code == RUN_OVER_EXIT:
                    log.info(f"the run is over after {steps} step(s)")
                    stderr.print(f"bench loadgen: the run is over ({steps} step(s) sent)")
                    return 0
                if code == NO_MASTER_EXIT:
                    raise BenchError(
                        f"bench loadgen: no master answered at {host}:{port} for 5 minutes "
                        f"({steps} step(s) sent){see_log}"
                    )
                if code != 0:
                    raise BenchError(
                        f"bench loadgen: the Locust worker ended with exit code {code} after {steps} step(s){see_log}"
                    )
                steps += 1
                log.info(f"step {steps} sent")
        except KeyboardInterrupt:
            log.info("interrupted")
            return 130
        finally:
            if child is not None:
                child.stop(grace_s=5)
