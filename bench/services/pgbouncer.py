"""A throwaway PgBouncer in front of the managed PostgreSQL: transaction pooling, SCRAM, a free
loopback port; stopped and deleted when the run ends, like the other servers.

Clients log in to PgBouncer as the cluster's user with the cluster's random password; it keeps at
most `pool_size` server connections to the one database. Its auth_file holds the user's SCRAM secret
as PostgreSQL stores it (pg_authid), not the password, as production set-ups do: PgBouncer then only
checks each client's proof, and logs in to PostgreSQL with the keys the client's login gave it (SCRAM
pass-through, which needs the same secret on both). With the password in plain text instead,
PgBouncer derives a SCRAM key (4096 rounds of PBKDF2) for every client login: about 5 ms of its CPU
per task of the recipe on this machine, more than the database saves.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.errors import BenchError
from bench.probes.server_stats import scalar
from bench.services.managed import ManagedServer
from bench.services.postgres import DATABASE, SUPERUSER, ManagedPostgres, server_user
from bench.urls import free_loopback_port, redact_url

log = logging.getLogger(__name__)

PACKAGE = "pgbouncer (apt-get install pgbouncer, or scripts/build-pgbouncer.sh for 1.24)"
BUILT_VERSION = "1.24.1"
"""The PgBouncer scripts/build-pgbouncer.sh builds (run by scripts/setup.sh): Debian 13's."""


def built_binary() -> Path:
    """Where scripts/build-pgbouncer.sh puts its build (the same cache folder, by the same rule)."""
    cache = os.environ.get("BENCH_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bench"
    )
    return Path(cache) / f"pgbouncer-{BUILT_VERSION}" / "bin" / "pgbouncer"


BUILT = "built"
SYSTEM = "system"
"""Names `pgbouncer_binary` also takes: bench's build, and the system's PgBouncer (the profile
`pgbouncer` runs one arm behind each), wherever they lie on the machine."""
PREPARED_STATEMENTS_SINCE = (1, 21)
"""The first PgBouncer that tracks protocol-level prepared statements in transaction pooling."""
MAX_PREPARED_STATEMENTS = 200
"""What bench sets max_prepared_statements to where PgBouncer has it: 1.24's default (1.21-1.23 have 0, off)."""


def pgbouncer_binary(given: str | None = None) -> str:
    """The PgBouncer the run starts: `given` (pgbouncer_binary: a path, `built` or `system`), else
    bench's build of 1.24 where scripts/setup.sh made it, else the system's (Debian 12's is 1.18)."""
    if given == BUILT:
        if not os.access(built_binary(), os.X_OK):
            raise BenchError(
                f"pgbouncer_binary built: bench's PgBouncer {BUILT_VERSION} is not built; run scripts/setup.sh"
            )
        return str(built_binary())
    if given and given != SYSTEM:
        return given
    if given != SYSTEM and os.access(built_binary(), os.X_OK):
        return str(built_binary())
    path = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
    if not path:
        raise BenchError(f"pgbouncer not found; install {PACKAGE}")
    return path


def pgbouncer_version(binary: str) -> str:
    """The version `binary --version` states ("1.24.1"); a BenchError in one line when the file is
    missing, cannot run, or is not PgBouncer."""
    if not os.path.isfile(binary):
        raise BenchError(f"pgbouncer_binary {binary}: no such file")
    if not os.access(binary, os.X_OK):
        raise BenchError(f"pgbouncer_binary {binary}: not executable")
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        raise BenchError(f"pgbouncer_binary {binary}: does not run ({exc.strerror or type(exc).__name__})") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"pgbouncer_binary {binary}: `--version` did not answer in 10 s") from None
    found = re.match(r"PgBouncer (\d+\.\d+(?:\.\d+)?)", done.stdout)
    if done.returncode != 0 or not found:
        said = (done.stdout or done.stderr).strip().splitlines()[:1]
        raise BenchError(
            f"pgbouncer_binary {binary}: not PgBouncer (--version said {said[0] if said else 'nothing'!r})"
        )
    return found.group(1)


def tracks_prepared_statements(version: str) -> bool:
    """Whether a PgBouncer of `version` knows max_prepared_statements (1.21 and later); False for a
    version not known ("unknown": a PgBouncer of the user's that did not say)."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= PREPARED_STATEMENTS_SINCE


UNKNOWN = "unknown"


@dataclass(frozen=True)
class GivenPgBouncer:
    """A PgBouncer of the user's (`pgbouncer_url`): what bench found out about it before the run."""

    url: str
    version: str
    """From SHOW VERSION on its admin console, or "unknown" where the URL's user may not read it."""
    pooling: str
    """"transaction" where two clients, one after the other, got the same server connection (transaction
    or statement pooling); "session" where the second got another (each client keeps one)."""

    def facts(self) -> dict[str, str]:
        return {"url": redact_url(self.url), "version": self.version, "pooling": self.pooling}


def check_given_pgbouncer(url: str) -> GivenPgBouncer:
    """Reach the user's PgBouncer (one line and a BenchError where it does not answer), read its version
    and find whether it shares server connections between clients, as the PgBouncer arms assume."""
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True, prepare_threshold=None) as first:
            first_pid = scalar(first, "SELECT pg_backend_pid()")
            # PgBouncer hands an idle server connection to the next client, the most recently used
            # first (server_round_robin = 0, its default): the same one, unless the first client keeps it.
            with psycopg.connect(url, connect_timeout=5, autocommit=True, prepare_threshold=None) as second:
                second_pid = scalar(second, "SELECT pg_backend_pid()")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"cannot reach the PgBouncer at {redact_url(url)}: {reason}") from None
    return GivenPgBouncer(url, _admin_version(url), "transaction" if first_pid == second_pid else "session")


def _admin_version(url: str) -> str:
    """SHOW VERSION on the admin console (the virtual database `pgbouncer`, which answers only the simple
    query protocol: a client-side-binding cursor), as the URL's user; "unknown" where it may not."""
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/pgbouncer"))
    try:
        with psycopg.connect(admin, connect_timeout=5, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            said = str(scalar(conn, "SHOW VERSION"))
    except psycopg.Error as exc:
        log.info(f"PgBouncer at {redact_url(url)}: no SHOW VERSION ({str(exc).strip().splitlines()[:1]})")
        return UNKNOWN
    found = re.search(r"(\d+\.\d+(?:\.\d+)?)", said)
    return found.group(1) if found else UNKNOWN


class ManagedPgBouncer(ManagedServer):
    """Context manager: a running PgBouncer on entry, nothing left of it on exit."""

    name = "pgbouncer"
    title = "PgBouncer"

    def __init__(
        self,
        work_dir: Path,
        postgres: ManagedPostgres,
        upstream: tuple[str, int] | None = None,
        pool_size: int = 20,
        reset_always: bool = False,
        cpus: str | None = None,
        binary: str | None = None,
    ) -> None:
        super().__init__(work_dir, cpus)
        self.binary = pgbouncer_binary(binary)
        self.version = pgbouncer_version(self.binary)
        self.port = free_loopback_port()
        self.pool_size = pool_size
        """Server connections PgBouncer keeps to the database (default_pool_size)."""
        self._postgres = postgres
        self.upstream = upstream or ("127.0.0.1", postgres.port)
        """Where PgBouncer's server connections go: the server, or a delay proxy in front of it."""
        self.reset_always = reset_always
        """Run DISCARD ALL after every transaction (server_reset_query_always), which drops the
        prepared statements that clients with unique statement names leave on server connections."""

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self._postgres.password}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    def _start(self) -> None:
        binary = self.binary
        user = server_user()  # PgBouncer, like PostgreSQL, refuses to run as root
        directory = self._make_dir("bench-pgbouncer-")
        config = os.path.join(directory, "pgbouncer.ini")
        userlist = os.path.join(directory, "userlist.txt")
        with open(userlist, "w") as f:
            f.write(f'"{SUPERUSER}" "{self._scram_secret()}"\n')
        with open(config, "w") as f:
            f.write(self._config(userlist))
        os.chmod(userlist, 0o600)
        if user:
            # The server user may not reach the binary where it lies (bench's build sits in root's
            # cache, which only root can enter): it runs a copy in its own directory.
            binary = shutil.copy2(binary, os.path.join(directory, "pgbouncer"))
            entry = pwd.getpwnam(user)
            for path in (directory, config, userlist):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._launch(
            [binary, config],
            self._answers,
            timeout_s=15,
            user=user,
            details=f"port={self.port} pool_size={self.pool_size} version={self.version} binary={self.binary}",
        )

    def _config(self, userlist: str) -> str:
        return "\n".join(
            [
                "[databases]",
                f"{DATABASE} = host={self.upstream[0]} port={self.upstream[1]} dbname={DATABASE}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = scram-sha-256",
                f"admin_users = {SUPERUSER}",  # SHOW VERSION and the like, as a user's PgBouncer may allow
                f"auth_file = {userlist}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "server_round_robin = 0",  # PgBouncer's default: the most recently used server connection first
                "max_client_conn = 1000",
                # Connection churn is what is measured: log nothing per connection.
                "log_connections = 0",
                "log_disconnections = 0",
                "server_tls_sslmode = disable",
                "server_reset_query = DISCARD ALL",
                f"server_reset_query_always = {int(self.reset_always)}",
                # Older versions refuse a key they do not know.
                *(
                    [f"max_prepared_statements = {MAX_PREPARED_STATEMENTS}"]
                    if tracks_prepared_statements(self.version)
                    else []
                ),
                "",
            ]
        )

    def _scram_secret(self) -> str:
        with psycopg.connect(self._postgres.admin_url(DATABASE), prepare_threshold=None) as conn:
            row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (SUPERUSER,)).fetchone()
        if not row or not (row[0] or "").startswith("SCRAM-SHA-256$"):
            raise BenchError("PgBouncer needs the managed PostgreSQL's user to have a SCRAM password")
        return row[0]

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False
