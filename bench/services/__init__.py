"""The one place that starts and stops the servers a run talks to.

By default a run gets a throwaway PostgreSQL cluster and a throwaway Redis on free loopback ports,
removed afterwards; `database_url` / `broker_url` (from `[services]` or BENCH_DATABASE_URL /
BENCH_BROKER_URL) point at existing servers instead, which bench then only checks and never stops.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from bench.errors import BenchError
from bench.services.outages import BrokerProbe, DatabaseProbe
from bench.services.pgbouncer import ManagedPgBouncer, pgbouncer_binary
from bench.services.postgres import ManagedPostgres, check_database
from bench.services.redis import ManagedRedis, check_broker
from bench.processes import ChildProcess
from bench.services.binaries import postgres_bindir, redis_server_binary
from bench.services.urls import require_loopback


@dataclass
class Services:
    """Addresses of the servers in use; the URLs may hold secrets and are never written out as they are."""

    database_url: str
    broker_url: str
    postgres: ManagedPostgres | None = None
    redis: ManagedRedis | None = None
    pgbouncer: ManagedPgBouncer | None = None

    @property
    def pgbouncer_url(self) -> str | None:
        return self.pgbouncer.url if self.pgbouncer else None

    def managed_processes(self) -> dict[str, ChildProcess]:
        """The servers bench started itself, by name (none for servers given by URL)."""
        servers = {"postgres": self.postgres, "redis": self.redis, "pgbouncer": self.pgbouncer}
        return {name: server.process for name, server in servers.items() if server and server.process}

    def managed_pids(self) -> dict[str, int]:
        """PIDs of the servers bench started itself (empty for servers given by URL)."""
        return {name: process.pid for name, process in self.managed_processes().items()}

    def given_by_url_probes(self) -> dict:
        """A probe for each server given by URL, for the outage watch (bench's own are not probed)."""
        probes = {}
        if self.postgres is None:
            probes["database"] = DatabaseProbe(self.database_url)
        if self.redis is None:
            probes["broker"] = BrokerProbe(self.broker_url)
        return probes

    def exited(self) -> str | None:
        """Why a server bench started is gone ("postgres exited (signal 9)"), or None while all run."""
        for name, process in self.managed_processes().items():
            how = process.exit_description()
            if how:
                return f"{name} exited ({how})"
        return None


def preflight(database_url: str | None, broker_url: str | None, pgbouncer: bool = False) -> None:
    """Before anything starts: servers given by URL must be on loopback and answer; for the others,
    the binaries to start them must be installed."""
    if pgbouncer:
        if database_url:
            raise BenchError("PgBouncer is started in front of the managed PostgreSQL only; "
                             "unset BENCH_DATABASE_URL or leave out the pgbouncer architectures")
        pgbouncer_binary()
    if database_url:
        require_loopback(database_url, "database")
        check_database(database_url)
    else:
        postgres_bindir()
    if broker_url:
        require_loopback(broker_url, "broker")
        check_broker(broker_url)
    else:
        redis_server_binary()


@contextlib.contextmanager
def running_services(
    work_dir: Path,
    database_url: str | None = None,
    broker_url: str | None = None,
    max_connections: int = 100,
    log=print,
    postgres_settings: dict[str, str] | None = None,
    auth: str = "scram-sha-256",
    ssl: bool = False,
    cpus: dict[str, str] | None = None,
    pgbouncer: bool = False,
) -> Iterator[Services]:
    """Start PostgreSQL and Redis where no URL is given, on the CPU sets of the roles "db" and "broker"
    if `cpus` names them; stop what was started on exit, whatever the exit."""
    preflight(database_url, broker_url, pgbouncer)
    cpus = cpus or {}
    with contextlib.ExitStack() as stack:
        postgres = redis = None
        if not database_url:
            postgres = stack.enter_context(ManagedPostgres(work_dir, max_connections, log=log, settings=postgres_settings,
                                                            auth=auth, ssl=ssl, cpus=cpus.get("db")))
            database_url = postgres.url
        if not broker_url:
            redis = stack.enter_context(ManagedRedis(work_dir, log=log, cpus=cpus.get("broker")))
            broker_url = redis.url
        bouncer = None
        if pgbouncer:
            bouncer = stack.enter_context(ManagedPgBouncer(work_dir, postgres, log=log, cpus=cpus.get("pgbouncer")))
        yield Services(database_url, broker_url, postgres, redis, bouncer)
