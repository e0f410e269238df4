"""A throwaway PostgreSQL cluster for one run: initdb into a temporary directory, a free loopback
port, scram-sha-256 (or trust) authentication with a random password, optionally TLS with a
self-signed certificate made for the run; stopped and deleted when the run ends."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from bench.errors import BenchError
from bench.services.certificates import self_signed_certificate
from bench.services.binaries import postgres_bindir
from bench.services.managed import ManagedServer
from bench.urls import free_loopback_port, redact_url

SUPERUSER = "bench"
DATABASE = "bench"


class ManagedPostgres(ManagedServer):
    """Context manager: a running cluster on entry, nothing left of it on exit."""

    name = "postgres"
    title = "PostgreSQL"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown: roll back, disconnect, stop
    stop_grace_s = 20.0

    def __init__(
        self,
        work_dir: Path,
        max_connections: int = 100,
        settings: dict[str, str] | None = None,
        auth: str = "scram-sha-256",
        ssl: bool = False,
        cpus: str | None = None,
        listen: str | None = None,
    ) -> None:
        super().__init__(work_dir, cpus)
        self.listen = listen
        """An address to listen on besides loopback (for workers on other hosts); URLs then name it."""
        if listen and auth == "trust":
            raise BenchError(
                'auth = "trust" with listen would let anyone who reaches the address in; use scram-sha-256'
            )
        self.max_connections = max_connections
        self.auth = auth
        self.ssl = ssl
        self.extra_settings = settings or {}
        """More server settings (e.g. shared_preload_libraries), applied after bench's own."""
        self.port = free_loopback_port()
        self.password = secrets.token_urlsafe(18)
        self.tls_capable = False
        """Whether the server has a certificate (clients choose TLS with the URL's sslmode)."""

    @property
    def url(self) -> str:
        return self.admin_url(DATABASE)

    def _start(self) -> None:
        bindir = postgres_bindir()
        user = server_user()
        work = self._make_dir("bench-pg-")
        data_dir = os.path.join(work, "data")
        pwfile = os.path.join(work, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if user:
            entry = pwd.getpwnam(user)
            os.chown(work, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._initdb(bindir, data_dir, pwfile, user)
        os.unlink(pwfile)
        if self.listen:  # initdb allows loopback only; the password stays required from anywhere else
            with open(os.path.join(data_dir, "pg_hba.conf"), "a") as hba:
                hba.write(f"host all all {self.listen}/0 {self.auth}\n")
        # A certificate even when clients do not use TLS (sslmode=disable in their URL), so the
        # calibration can measure what TLS would add; without openssl, only ssl = true needs it.
        self.tls_capable = bool(shutil.which("openssl")) or self.ssl
        if self.tls_capable:
            self.extra_settings = {**self._make_certificate(user), **self.extra_settings}
        self._argv = [os.path.join(bindir, "postgres"), "-D", data_dir, *self._server_options()]
        self._user = user
        self._run_server()

    def _run_server(self) -> None:
        self._launch(
            self._argv,
            self._accepts_connections,
            timeout_s=30,
            user=self._user,
            details=f"port={self.port} auth={self.auth} ssl={self.ssl} "
            f"max_connections={self.max_connections} data={self._argv[2]}",
        )

    def restart(self, down_s: float = 1.0) -> None:
        """Stop the server (fast shutdown), stay down `down_s`, start it again on the same port and data:
        what a user's server does when it restarts under a run."""
        self._stop_process(" for a restart")
        time.sleep(down_s)
        self._run_server()

    def _initdb(self, bindir: str, data_dir: str, pwfile: str, user: str | None) -> None:
        argv = [
            os.path.join(bindir, "initdb"),
            "-D",
            data_dir,
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            f"--auth={self.auth}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, user=user, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BenchError(f"initdb failed: {last}")

    def _make_certificate(self, user: str | None) -> dict[str, str]:
        """A self-signed certificate for this run only (clients encrypt without verifying it)."""
        assert self._dir is not None, "the server's directory is made before its certificate"
        cert, key = self_signed_certificate(self._dir, "ssl = true")
        if user:
            entry = pwd.getpwnam(user)
            for path in (cert, key):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        return {"ssl": "on", "ssl_cert_file": cert, "ssl_key_file": key}

    def _server_options(self) -> list[str]:
        settings = {
            "listen_addresses": ",".join(filter(None, ["127.0.0.1", self.listen])),
            "port": str(self.port),
            "unix_socket_directories": self._dir,
            "max_connections": str(self.max_connections),
            "password_encryption": "scram-sha-256",
            # Connection churn is what is measured: log nothing per connection, keep the log small.
            "log_connections": "off",
            "log_min_messages": "warning",
            "track_activities": "on",
            "track_counts": "on",
            **self.extra_settings,
        }
        return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.admin_url("postgres"), connect_timeout=2, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            return True
        except psycopg.OperationalError:
            return False
        except psycopg.errors.DuplicateDatabase:
            return True

    def admin_url(self, database: str) -> str:
        tls = "?sslmode=require" if self.ssl else "?sslmode=disable" if self.tls_capable else ""
        return f"postgresql://{SUPERUSER}:{self.password}@{self.listen or '127.0.0.1'}:{self.port}/{database}{tls}"


def server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' (or 'nobody') user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise BenchError(
        "running as root and no 'postgres' or 'nobody' user exists to run PostgreSQL as; "
        "create one (adduser --system postgres) or run bench as another user"
    )


def check_database(url: str) -> None:
    """Fail with one clear line when the given database cannot be reached."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"cannot reach the database at {redact_url(url)}: {reason}") from None
