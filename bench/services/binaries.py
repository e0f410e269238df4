"""Finding the server binaries the system has, or saying exactly what to install."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from bench.errors import BenchError

_PG_PACKAGE = "postgresql (apt-get install postgresql)"


def postgres_bindir() -> str:
    """The directory holding initdb and postgres: PATH, then `pg_config --bindir`, then /usr/lib/postgresql/*/bin."""
    for candidate in _postgres_bindir_candidates():
        if candidate and all(os.access(os.path.join(candidate, b), os.X_OK) for b in ("initdb", "postgres")):
            return candidate
    raise BenchError(f"PostgreSQL server binaries (initdb, postgres) not found; install {_PG_PACKAGE}")


def _postgres_bindir_candidates() -> list[str]:
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    return candidates + versions


def _version_key(path: str) -> float:
    try:
        return float(path.split("/")[-2])
    except ValueError:
        return 0.0


def redis_server_binary() -> str:
    """The redis-server executable on PATH."""
    path = shutil.which("redis-server")
    if not path:
        raise BenchError("redis-server not found; install redis-server (apt-get install redis-server)")
    return path
