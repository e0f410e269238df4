"""`bench run`: run a profile and write results/<run-id>/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.config_file import add_config_argument, load_config
from bench.config import resolve_profile
from bench.console import stderr, stdout, summary_table
from bench.errors import BenchError, ServerExited
from bench.processes import interrupt_on_signals
from bench.runner import Run
from bench.services import preflight

NAME = "run"
HELP = "run a profile's steps against each of its architectures"
EXIT_INTERRUPTED = 130
EXIT_SERVER_EXITED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile in bench.toml (default: its default_profile)")
    add_config_argument(parser)
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="where run folders go")
    parser.add_argument("--plots-dir", type=Path, default=Path("plots"), help="where charts and the report go")
    flags = parser.add_argument_group("overrides of profile values")
    flags.add_argument("--rates", help='offered rates, tasks/s, comma-separated; "max" for a saturation step (e.g. 50,100,max)')
    flags.add_argument("--saturation-tasks", type=int, help='tasks a "max" step enqueues at once')
    flags.add_argument("--architectures", help="comma-separated architecture names")
    flags.add_argument("--workload")
    flags.add_argument("--step-seconds", type=float)
    flags.add_argument("--warmup-seconds", type=float, help="least warm-up before each rate step, s")
    flags.add_argument("--warmup-max-seconds", type=float,
                       help="most warm-up before each rate step, s (it ends once the workers are warm)")
    flags.add_argument("--arrival", choices=["uniform", "poisson"])
    flags.add_argument("--worker-processes", type=int)
    flags.add_argument("--repeat", type=int, help="runs of each step; steps.csv gains their mean and 95%% CI")
    flags.add_argument("--saturation-repeat", type=int, help='runs of each "max" step (default: --repeat); median and min-max')
    flags.add_argument("--workers", choices=["local", "external"],
                       help="external: `bench worker` agents on other hosts run the workers")
    flags.add_argument("--external-workers", type=int, help="bench worker agents to wait for (workers = external)")
    flags.add_argument("--listen", metavar="ADDRESS",
                       help="an address of this host the managed PostgreSQL and Redis also listen on (other hosts' workers)")
    flags.add_argument("--records", choices=["files", "control"],
                       help="how task records reach bench: files, or a control channel (a Redis of its own)")
    flags.add_argument("--loadgen-processes", type=int,
                       help="load generator processes that send (Locust's distributed mode above 1)")
    flags.add_argument("--external-loadgens", type=int,
                       help="load generators on other hosts (`bench loadgen --master HOST:PORT`) each step waits for")
    flags.add_argument("--loadgen-port", type=int, help="the port their Locust master listens on (default 5557)")
    flags.add_argument("--table-rows", type=int)
    flags.add_argument("--max-connections", type=int)
    flags.add_argument("--auth", choices=["scram-sha-256", "trust"], help="authentication of the managed PostgreSQL")
    flags.add_argument("--ssl", choices=["on", "off"], help="TLS to the managed PostgreSQL")
    flags.add_argument("--redis-tls", choices=["on", "off"], help="TLS to the managed Redis (broker and control channel)")
    flags.add_argument("--cpus", help='CPU set by role, e.g. "db=0;workers=1;broker=1;loadgen=1"')
    flags.add_argument("--broker", choices=["redis", "rabbitmq"], help="the broker bench starts (default: redis)")
    flags.add_argument("--rtt-ms", help="round trip between workers and database, ms, through a delay proxy "
                       "(0: the proxy alone); comma-separated to step the run through several (e.g. 0,1,5)")
    flags.add_argument("--pgbench-check", action="store_true", default=None,
                       help="at the end, pgbench -C at the lowest rate: an independent count of the database CPU per connection")


def overrides(args: argparse.Namespace) -> dict:
    return {
        "rates": _rate_list(args.rates) if args.rates else None,
        "architectures": args.architectures.split(",") if args.architectures else None,
        "workload": args.workload, "step_seconds": args.step_seconds, "warmup_seconds": args.warmup_seconds,
        "warmup_max_seconds": args.warmup_max_seconds,
        "arrival": args.arrival, "worker_processes": args.worker_processes, "table_rows": args.table_rows,
        "max_connections": args.max_connections, "saturation_tasks": args.saturation_tasks,
        "repeat": args.repeat, "saturation_repeat": args.saturation_repeat, "auth": args.auth,
        "loadgen_processes": args.loadgen_processes, "records": args.records,
        "external_loadgens": args.external_loadgens, "loadgen_port": args.loadgen_port,
        "workers": args.workers, "external_workers": args.external_workers, "listen": args.listen,
        "pgbench_check": args.pgbench_check, "cpus": _cpu_sets(args.cpus) if args.cpus else None,
        "ssl": None if args.ssl is None else args.ssl == "on",
        "redis_tls": None if args.redis_tls is None else args.redis_tls == "on", "rtt_ms": _rtt_list(args.rtt_ms) if args.rtt_ms else None, "broker": args.broker,
    }


def _rtt_list(text: str) -> float | list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise BenchError(f"--rtt-ms takes a number of ms or comma-separated numbers, got {text!r}") from None
    return values if len(values) > 1 else values[0]


def _rate_list(text: str) -> list[float | str]:
    try:
        return [part.strip() if part.strip() == "max" else float(part) for part in text.split(",")]
    except ValueError:
        raise BenchError(f"--rates takes comma-separated numbers of tasks/s or \"max\", got {text!r}") from None


def _cpu_sets(text: str) -> dict[str, str]:
    sets = dict(part.strip().partition("=")[::2] for part in text.split(";") if part.strip())
    if not all(sets.values()):
        raise BenchError(f'--cpus takes role=CPU list pairs separated by ";", e.g. "db=0;workers=1", got {text!r}')
    return sets


def _make_folder(folder: Path, what: str) -> None:
    """Before any server starts: a folder the run could not write its results or charts to ends it now
    (tried by making it: as root, os.access says yes to /proc)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot make the {what} folder {folder}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    profile = resolve_profile(load_config(args.config), args.profile, overrides(args))
    from bench.architectures import get_architecture
    from bench.workload import make_workload

    for arm in profile.arms():
        brokers = get_architecture(arm.architecture).brokers
        if arm.broker not in brokers:
            raise BenchError(f"{arm.architecture} runs on {' or '.join(brokers)} only; "
                             f"leave it out of a run on {arm.broker}")
    make_workload(profile.workload, profile.table_rows, profile.workload_params)
    preflight(profile.database_url, profile.broker_url,
              any(get_architecture(name).pgbouncer for name in profile.architectures),
              distance=profile.distances() != [None], brokers=profile.brokers(), control_url=profile.control_url)
    for folder, what in ((args.results_dir, "results"), (args.plots_dir, "plots")):
        _make_folder(folder, what)
    interrupt_on_signals()
    run_ = Run(profile, args.results_dir)
    stderr.print(f"run [bold]{run_.folder.run_id}[/]: profile {profile.name}, "
                 f"{', '.join(profile.architectures)} on {profile.workload}")
    try:
        run_.execute()
    except KeyboardInterrupt:
        stderr.print(f"[yellow]interrupted[/]: kept {len(run_.rows)} finished step(s) in {run_.folder.path}")
        _print_summary(run_)
        _draw(run_, args.plots_dir)
        return EXIT_INTERRUPTED
    except BenchError as exc:
        sys.stderr.write(f"bench: error: {exc}\n")
        return 2
    except ServerExited as exc:
        sys.stderr.write(f"bench: error: {exc.reason} during the run; kept {len(run_.rows)} step(s) "
                         f"in {run_.folder.path}\n")
        _print_summary(run_)
        _draw(run_, args.plots_dir)
        return EXIT_SERVER_EXITED
    _print_summary(run_)
    stdout.print(f"results: {run_.folder.path}")
    _draw(run_, args.plots_dir)
    return 0


def _draw(run_: Run, plots_dir: Path) -> None:
    """Charts and report of what was measured, drawn from the results files like `bench report` does."""
    if not run_.rows:
        return
    from bench.report import write_report
    from bench.results import load_run

    from bench.analysis.advice import advise, limits_for

    data = load_run(run_.folder.path)
    advice = advise(data, limits_for(data))
    run_.folder.write_advice(advice)
    for line in advice["text"]:
        stdout.print(line)
    report = write_report(data, plots_dir / run_.folder.run_id)
    stdout.print(f"report: {report}")


def _print_summary(run_: Run) -> None:
    if run_.rows:
        stdout.print(summary_table(run_.rows, f"{run_.folder.run_id} ({run_.profile.name}, {run_.profile.workload})"))
