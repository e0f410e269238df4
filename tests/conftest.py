"""Shared fixtures: real PostgreSQL and Redis, started by the same code `bench run` uses."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from bench.services import running_services

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """A throwaway PostgreSQL and Redis for the whole test session."""
    with running_services(tmp_path_factory.mktemp("services"), log=lambda _msg: None) as running:
        yield running


def _bench_env(env: dict | None) -> dict:
    """This environment with `env` on top, without servers of the caller's unless `env` names them."""
    full_env = {**os.environ, **(env or {})}
    for var in ("BENCH_DATABASE_URL", "BENCH_BROKER_URL"):
        if env is None or var not in env:
            full_env.pop(var, None)
    return full_env


def run_bench(*args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """`bench ARGS` as a user runs it: a separate process, its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env=_bench_env(env), cwd=cwd, timeout=timeout)


@contextlib.contextmanager
def bench_run_in_background(results: Path, *args: str, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """`bench run ARGS` writing into `results` (plots in results/plots), left running for the test to act
    on; killed on the way out if it is still running."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--results-dir", str(results), "--plots-dir",
                             str(results / "plots"), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_bench_env(env))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
