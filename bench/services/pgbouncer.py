"""A throwaway PgBouncer in front of the managed PostgreSQL: transaction pooling, SCRAM, a free
loopback port; stopped and deleted when the run ends, like the other servers.

Clients log in to PgBouncer as the cluster's user with the cluster's random password (PgBouncer
needs the password itself, not a hash, to log in to PostgreSQL with SCRAM in turn); it keeps at most
`pool_size` server connections to the one database. With the password in plain text, PgBouncer
derives a SCRAM key (4096 rounds of PBKDF2) for every client login: measured here at about 5 ms of
its CPU per task of the recipe, more than the database saves (`pgbouncer_cpu_ms_per_task`).
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import psycopg

from bench.errors import BenchError
from bench.services.managed import ManagedServer
from bench.services.postgres import DATABASE, SUPERUSER, ManagedPostgres, server_user
from bench.services.urls import free_loopback_port

PACKAGE = "pgbouncer (apt-get install pgbouncer)"


def pgbouncer_binary() -> str:
    path = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
    if not path:
        raise BenchError(f"pgbouncer not found; install {PACKAGE}")
    return path


class ManagedPgBouncer(ManagedServer):
    """Context manager: a running PgBouncer on entry, nothing left of it on exit."""

    name = "pgbouncer"
    title = "PgBouncer"

    def __init__(self, work_dir: Path, postgres: ManagedPostgres, upstream: tuple[str, int] | None = None,
                 pool_size: int = 20, log=print, cpus: str | None = None) -> None:
        super().__init__(work_dir, log, cpus)
        self.port = free_loopback_port()
        self.pool_size = pool_size
        """Server connections PgBouncer keeps to the database (default_pool_size)."""
        self._postgres = postgres
        self.upstream = upstream or ("127.0.0.1", postgres.port)
        """Where PgBouncer's server connections go: the server, or a delay proxy in front of it."""

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self._postgres.password}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    def _start(self) -> None:
        binary = pgbouncer_binary()
        user = server_user()  # PgBouncer, like PostgreSQL, refuses to run as root
        directory = self._make_dir("bench-pgbouncer-")
        config = os.path.join(directory, "pgbouncer.ini")
        userlist = os.path.join(directory, "userlist.txt")
        with open(userlist, "w") as f:
            f.write(f'"{SUPERUSER}" "{self._postgres.password}"\n')
        with open(config, "w") as f:
            f.write(self._config(userlist))
        os.chmod(userlist, 0o600)
        if user:
            entry = pwd.getpwnam(user)
            for path in (directory, config, userlist):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._launch([binary, config], self._answers, timeout_s=15, user=user,
                     details=f"port={self.port} pool_size={self.pool_size}")

    def _config(self, userlist: str) -> str:
        return "\n".join([
            "[databases]",
            f"{DATABASE} = host={self.upstream[0]} port={self.upstream[1]} dbname={DATABASE}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {userlist}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 1000",
            # Connection churn is what is measured: log nothing per connection.
            "log_connections = 0",
            "log_disconnections = 0",
            "server_tls_sslmode = disable",
            "",
        ])

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False
