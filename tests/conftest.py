"""Shared fixtures: real PostgreSQL and Redis, started by the same code `bench run` uses; and the test
tiers, given to each test by the fixtures it asks for:

- e2e: a whole `bench run` (fixtures bench_run, smoke_run, distance_run, all_architectures);
- integration: servers or processes, no whole run (services, rabbitmq, control, hosts,
  machines_own_rabbitmq; bench_cli for `bench` commands that run no benchmark; child_processes for
  processes a test starts itself);
- unit: the rest, which may start no process and connect nowhere (checked while it runs).

Timing checks compare two figures of the same run wherever they can. The few that must stay absolute
(how close a clock estimate is, how late a send may start, how many sends or samples a second makes,
how long a task or an outage lasts) carry the `measurement` marker and use the tolerances below, each
stated once; `pytest --collect-only -q -m measurement` lists them.

`pytest -m unit` runs in well under a minute; the README's test command runs every tier.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from bench.services import running_services

REPO = Path(__file__).resolve().parent.parent

E2E_FIXTURES = {"bench_run", "smoke_run", "distance_run", "all_architectures"}
INTEGRATION_FIXTURES = {
    "services",
    "rabbitmq",
    "control",
    "hosts",
    "machines_own_rabbitmq",
    "bench_cli",
    "child_processes",
}
TIERS = ("unit", "integration", "e2e")

CLOCK_ACCURACY_MS = 1.0
"""How far a clock-offset estimate may be from the truth. Over loopback its round trips take 0.1-0.3
ms, so the estimate is good to a fraction of that; a skew of 250 ms left uncorrected misses by 250x."""
ON_TIME_MS = 50.0
"""How late a send, or a light task's end, may be and still count as on bench's time: a busy 2-core
VM delays a wake-up by up to ~20 ms; a 250 ms clock skew left uncorrected is 5x this."""
SCHEDULE_SPAN_SLACK_S = 0.25
"""How far the span of a 1 s schedule's sends may be from 1 s (a send that waited for a busy core)."""
SENT_BY_HALT_SHARE = (0.5, 2.0)
"""After t s of a schedule at r/s, a halt keeps between these shares of r x t sends (the start of
three processes and the halt's own delay move it; a schedule that did not run, or ran ahead, is far out)."""
SLOW_TASK_SLACK_S = 1.85
"""What a task's wall time may exceed its own sleep by: connect, SCRAM and a busy machine's scheduling."""
SAMPLES_SHARE = 0.4
"""Of the samples a sampler's interval makes in a window, the share it must take at least on a busy VM."""
OUTAGE_SLACK_S = 9.0
"""How far past a server's downtime its outage may be reported as over (the watch polls; the server
starts again)."""


def tier_of(fixturenames) -> str:
    names = set(fixturenames)
    return "e2e" if names & E2E_FIXTURES else "integration" if names & INTEGRATION_FIXTURES else "unit"


def pytest_configure(config) -> None:
    for tier, meaning in zip(
        TIERS, ("no server, no process", "servers or processes, no whole run", "a whole bench run")
    ):
        config.addinivalue_line("markers", f"{tier}: {meaning} (given from the fixtures a test asks for)")
    config.addinivalue_line(
        "markers", "measurement: an absolute timing check, with its tolerance from tests/conftest.py"
    )


def pytest_sessionfinish(session, exitstatus) -> None:
    """No test may leave the pytest process monkey-patched by gevent (the load generator's __main__
    patches on import): later tests would run on patched sockets and ssl, and pass or fail by order."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_anything_patched():
        patched = ", ".join(sorted(monkey.saved))
        session.config.get_terminal_writer().line(
            f"FAILED: the pytest process was monkey-patched by gevent ({patched}); import the patching "
            f"module only in a subprocess",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        item.add_marker(tier_of(getattr(item, "fixturenames", ())))


_current_tier = ["unit"]
"""The tier of the test being set up or run, for run_bench's check (a module fixture such as smoke_run
runs `bench run` while the first test that asks for it is set up)."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    _current_tier[0] = tier_of(getattr(item, "fixturenames", ()))


def _refuse(what: str):
    def refuse(*_args, **_kwargs):
        raise AssertionError(
            f"a unit test {what}: ask for the fixture that provides it "
            f"(services, bench_cli, child_processes...), which makes it an integration test"
        )

    return refuse


@pytest.fixture(autouse=True)
def _keep_to_the_tier(monkeypatch):
    """A unit test that starts a process or connects somewhere fails, so no test runs in a tier below its own."""
    if _current_tier[0] == "unit":  # set by pytest_runtest_setup, before any fixture
        monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("started a process"))
        monkeypatch.setattr(socket.socket, "connect", _refuse("opened a connection"))
    yield


@pytest.fixture(scope="session")
def bench_cli():
    """`bench` commands that run no benchmark (bad input, reports of recorded runs): integration."""
    return run_bench


@pytest.fixture(scope="session")
def bench_run():
    """A whole `bench run`: e2e."""
    return run_bench


@pytest.fixture
def child_processes():
    """For a test that starts processes (or servers) of its own: integration."""


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """A throwaway PostgreSQL and Redis for the whole test session."""
    with running_services(tmp_path_factory.mktemp("services")) as running:
        yield running


def _bench_env(env: dict | None) -> dict:
    """This environment with `env` on top, without servers of the caller's unless `env` names them."""
    full_env = {**os.environ, **(env or {})}
    for var in ("BENCH_DATABASE_URL", "BENCH_BROKER_URL", "BENCH_PGBOUNCER_URL"):
        if env is None or var not in env:
            full_env.pop(var, None)
    return full_env


def run_bench(
    *args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`bench ARGS` as a user runs it: a separate process, its exit code, stdout and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        env=_bench_env(env),
        cwd=cwd,
        timeout=timeout,
    )
    if args[:1] == ("run",) and "--help" not in args and done.returncode == 0 and _current_tier[0] != "e2e":
        raise AssertionError("a whole `bench run` in a test that is not e2e: ask for the bench_run fixture")
    return done


@contextlib.contextmanager
def bench_run_in_background(results: Path, *args: str, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """`bench run ARGS` writing into `results` (plots in results/plots), left running for the test to act
    on; killed on the way out if it is still running (an e2e test's)."""
    assert _current_tier[0] == "e2e", "a `bench run` in a test that is not e2e: ask for the bench_run fixture"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--results-dir",
            str(results),
            "--plots-dir",
            str(results / "plots"),
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_bench_env(env),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
