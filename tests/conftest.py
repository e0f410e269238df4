"""Shared fixtures: real PostgreSQL and Redis, started by the same code `bench run` uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.services import running_services

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """A throwaway PostgreSQL and Redis for the whole test session."""
    with running_services(tmp_path_factory.mktemp("services"), log=lambda _msg: None) as running:
        yield running


def run_bench(*args: str, env: dict | None = None, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """`bench ARGS` as a user runs it: a separate process, its exit code, stdout and stderr."""
    full_env = {**os.environ, **(env or {})}
    for var in ("BENCH_DATABASE_URL", "BENCH_BROKER_URL"):
        if env is None or var not in env:
            full_env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)
