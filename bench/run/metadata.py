"""Facts about the run's environment for run.json: package and server versions, git commit, host."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import psutil

PACKAGES = [
    "celery",
    "kombu",
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "asgiref",
    "gevent",
    "locust",
    "redis",
    "taskiq",
    "taskiq-redis",
    "matplotlib",
]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo_dir: Path) -> dict[str, str | bool | None]:
    """The commit bench ran from, and whether the work tree had uncommitted changes."""
    commit = _git(repo_dir, "rev-parse", "--verify", "HEAD")
    status = _git(repo_dir, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def host_facts() -> dict:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def broker_version(broker_url: str) -> str | None:
    from bench.services.brokers import broker_version as version

    return version(broker_url)
