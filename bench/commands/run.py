"""`bench run`: run a profile and write results/<run-id>/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.settings.config_file import add_config_argument, load_config
from bench.settings.config import resolve_profile
from bench.output.console import TerminalObserver, stderr, stdout, summary_table
from bench.errors import BenchError, ServerExited
from bench.processes import interrupt_on_signals
from bench.settings.profile_flags import add_profile_flags, profile_overrides
from bench.run.runner import Run
from bench.services import preflight
from bench.urls import redact_url

NAME = "run"
HELP = "run a profile's steps against each of its architectures"
EXIT_INTERRUPTED = 130
EXIT_SERVER_EXITED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="profile in bench.toml (default: its default_profile)")
    add_config_argument(parser)
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="where run folders go")
    parser.add_argument("--plots-dir", type=Path, default=Path("plots"), help="where charts and the report go")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="the end-of-run summary with every column (default: the ones that answer the question)",
    )
    add_profile_flags(parser)


def _make_folder(folder: Path, what: str) -> None:
    """Before any server starts: a folder the run could not write its results or charts to ends it now
    (tried by making it: as root, os.access says yes to /proc)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot make the {what} folder {folder}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    profile = resolve_profile(load_config(args.config), args.profile, profile_overrides(args))
    from bench.run.arm_bodies import skipped_arms
    from bench.run.plan import needs_pgbouncer, pgbouncer_arms
    from bench.architectures import get_architecture
    from bench.workload_loader import make_workload, workload_class

    for arm in profile.arms():
        brokers = get_architecture(arm.architecture).brokers
        if arm.broker not in brokers:
            raise BenchError(
                f"{arm.architecture} runs on {' or '.join(brokers)} only; leave it out of a run on {arm.broker}"
            )
    service_ms = make_workload(profile.workload, profile.table_rows, profile.workload_params).outside_service_ms()
    for arm in (a for a in profile.arms() if a.variant):  # each variant's settings, checked like the profile's
        if (
            make_workload(profile.workload, profile.table_rows, profile.workload_params_of(arm)).outside_service_ms()
            != service_ms
        ):
            raise BenchError(
                f"{arm.label}: a variant cannot change how long the outside service takes (one serves the run)"
            )
    skipped = skipped_arms(profile.arms(), workload_class(profile.workload))
    if len(skipped) == len(profile.arms()):
        raise BenchError(
            f"no architecture of the run can run {profile.workload}: {'; '.join(dict.fromkeys(skipped.values()))}"
        )
    given_pgbouncer = preflight(
        profile.database_url,
        profile.broker_url,
        needs_pgbouncer(profile),
        distance=profile.distances() != [None],
        brokers=profile.brokers(),
        control_url=profile.control_url,
        pgbouncer_binary_given=profile.pgbouncer_binary,
        pgbouncer_url=profile.pgbouncer_url,
    )
    if not profile.pgbouncer_url:
        pgbouncer_arms(profile)  # each arm's own PgBouncer, where a variant names one
    for folder, what in ((args.results_dir, "results"), (args.plots_dir, "plots")):
        _make_folder(folder, what)
    interrupt_on_signals()
    run_ = Run(profile, args.results_dir, TerminalObserver(), skipped)
    stderr.print(
        f"run [bold]{run_.folder.run_id}[/]: profile {profile.name}, "
        f"{', '.join(profile.architectures)} on {profile.workload}"
    )
    if given_pgbouncer:
        stderr.print(
            f"your PgBouncer at {redact_url(given_pgbouncer.url)}: version {given_pgbouncer.version}, "
            f"{given_pgbouncer.pooling} pooling"
            + ("" if given_pgbouncer.pooling == "transaction" else " (see run.json's caveats)"),
            highlight=False,
        )
    for label, why in skipped.items():
        stderr.print(f"{label}: skipped: {why}", highlight=False)
    try:
        run_.execute()
    except KeyboardInterrupt:
        stderr.print(f"[yellow]interrupted[/]: kept {len(run_.rows)} finished step(s) in {run_.folder.path}")
        _print_summary(run_, args.wide)
        _draw(run_, args.plots_dir)
        return EXIT_INTERRUPTED
    except BenchError as exc:
        sys.stderr.write(f"bench: error: {exc}\n")
        return 2
    except ServerExited as exc:
        sys.stderr.write(
            f"bench: error: {exc.reason} during the run; kept {len(run_.rows)} step(s) in {run_.folder.path}\n"
        )
        _print_summary(run_, args.wide)
        _draw(run_, args.plots_dir)
        return EXIT_SERVER_EXITED
    _print_summary(run_, args.wide)
    stdout.print(f"results: {run_.folder.path}")
    advice = _draw(run_, args.plots_dir)
    return verdict_exit(advice)


def verdict_exit(advice: dict | None) -> int:
    """With a target: one line on the verdict; EXIT_SHORT_OF_TARGET when the recipe falls short of it."""
    verdict = (advice or {}).get("verdict")
    if not verdict:
        return 0
    if verdict["exit_code"]:
        sys.stderr.write(f"bench: verdict: {verdict['line']} (exit {verdict['exit_code']})\n")
    else:
        stdout.print(f"verdict: {verdict['line']}")
    return verdict["exit_code"]


def _draw(run_: Run, plots_dir: Path) -> dict | None:
    """Charts and report of what was measured, drawn from the results files like `bench report` does;
    returns the advice."""
    if not run_.rows:
        return None
    from bench.output.report import write_report
    from bench.record.results import load_run

    from bench.analysis.advice import advise, limits_for

    data = load_run(run_.folder.path)
    advice = advise(data, limits_for(data))
    run_.folder.write_advice(advice)
    for line in advice["text"]:
        stdout.print(line)
    report = write_report(data, plots_dir / run_.folder.run_id, advice)
    stdout.print(f"report: {report}")
    return advice


def _print_summary(run_: Run, wide: bool) -> None:
    if run_.rows:
        stdout.print(
            summary_table(run_.rows, f"{run_.folder.run_id} ({run_.profile.name}, {run_.profile.workload})", wide)
        )
