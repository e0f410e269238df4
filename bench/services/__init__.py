"""The one place that starts and stops the servers a run talks to.

By default a run gets a throwaway PostgreSQL cluster and a throwaway Redis (or RabbitMQ, or both when
the run's architectures name both) on free loopback ports,
removed afterwards; `database_url` / `broker_url` (from `[services]` or BENCH_DATABASE_URL /
BENCH_BROKER_URL) point at existing servers instead, which bench then only checks and never stops.

What stands between the workers and the database (a delay proxy for `rtt_ms`, PgBouncer) is started
per distance by `Services.at_distance`, since a run may step through several distances.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from bench.errors import BenchError
from bench.services.delay_proxy import ManagedDelayProxy, delay_proxy_binary
from bench.services.outages import BrokerProbe, DatabaseProbe
from bench.services.outside_service import ManagedOutsideService
from bench.services.pgbouncer import (
    GivenPgBouncer,
    ManagedPgBouncer,
    check_given_pgbouncer,
    pgbouncer_binary,
    pgbouncer_version,
)
from bench.services.postgres import ManagedPostgres, check_database
from bench.services.brokers import check_broker
from bench.urls import broker_kind
from bench.services.rabbitmq import ManagedRabbitMQ, rabbitmq_binaries
from bench.services.redis import ManagedRedis
from bench.processes import ChildProcess
from bench.services.binaries import postgres_bindir, redis_server_binary
from bench.urls import with_address


@dataclass(frozen=True)
class Services:
    """Addresses of the servers in use; the URLs may hold secrets and are never written out as they are.

    `database_url` is the server itself (bench's own statistics and set-up); `worker_database_url` and
    `pgbouncer_url` are what the workers connect to, through the delay proxy at a distance.

    A Services never changes: `at_distance` and `pgbouncer_for` give a new one for the servers they add,
    valid inside their `with` block, so what an arm sees does not depend on the order of calls."""

    database_url: str
    broker_urls: dict[str, str]
    """The URL of each broker kind the run uses ("redis", "rabbitmq"), the default broker first."""
    postgres: ManagedPostgres | None = None
    managed_brokers: dict[str, ManagedRedis | ManagedRabbitMQ] = field(default_factory=dict)
    """The brokers bench started, by kind (a broker given by URL is not among them)."""
    work_dir: Path | None = None
    cpus: dict[str, str] = field(default_factory=dict)
    pgbouncer_beside: str = "workers"
    pgbouncer_binary: str | None = None
    """The PgBouncer the PgBouncer arms run behind (bench/services/pgbouncer.py says which by default)."""
    pgbouncer: ManagedPgBouncer | None = None
    given_pgbouncer: GivenPgBouncer | None = None
    """A PgBouncer of the user's (`pgbouncer_url`), which the PgBouncer arms use instead of one of bench's."""
    proxies: tuple[ManagedDelayProxy, ...] = ()
    worker_database_url: str = ""
    pgbouncer_url: str | None = None
    rtt_ms: float | None = None
    """The distance in force (None: no proxy, the workers connect to the server directly)."""
    control: ManagedRedis | None = None
    """The control channel's Redis (`records = "control"`): task records and clock offsets, never tasks."""
    given_control_url: str | None = None
    """The control channel given by URL (`control_url`), instead of bench's own."""
    outside_service: ManagedOutsideService | None = None
    """The service the workload's tasks call (send_email's email provider), where it calls one."""

    @property
    def pgbouncer_version(self) -> str | None:
        """The version of the PgBouncer the workers connect through ("unknown" for a user's that did not
        say), None where they connect to the database itself."""
        if self.pgbouncer:
            return self.pgbouncer.version
        if self.pgbouncer_url and self.given_pgbouncer:
            return self.given_pgbouncer.version
        return None

    @property
    def control_url(self) -> str | None:
        return self.control.url if self.control else self.given_control_url

    def __post_init__(self) -> None:
        if not self.worker_database_url:
            object.__setattr__(self, "worker_database_url", self.database_url)

    @property
    def broker_kind(self) -> str:
        """The default broker's kind: that of the architectures named without `@broker`."""
        return next(iter(self.broker_urls))

    @property
    def broker_url(self) -> str:
        return self.broker_urls[self.broker_kind]

    @property
    def broker_server(self) -> ManagedRedis | ManagedRabbitMQ | None:
        """The default broker when bench started it."""
        return self.managed_brokers.get(self.broker_kind)

    @property
    def scratch_dir(self) -> Path:
        """Where the servers started per distance keep their files."""
        assert self.work_dir is not None, "services that start servers are given a work directory"
        return self.work_dir

    @contextlib.contextmanager
    def at_distance(self, rtt_ms: float | None) -> Iterator["Services"]:
        """The workers' way to the database for one distance: through a delay proxy when `rtt_ms` is
        not None, else direct; the proxy is stopped on exit."""
        if rtt_ms is None:
            yield self
            return
        host, port = _host_port(self.database_url)
        with ManagedDelayProxy(self.scratch_dir, host, port, rtt_ms, cpus=self.cpus.get("proxy")) as proxy:
            yield dataclasses.replace(
                self,
                proxies=(*self.proxies, proxy),
                rtt_ms=rtt_ms,
                worker_database_url=with_address(self.database_url, "127.0.0.1", proxy.port),
            )

    @contextlib.contextmanager
    def pgbouncer_for(self, architecture, binary: str | None = None) -> Iterator["Services"]:
        """A PgBouncer of its own for an architecture that needs one (so the server connections, and
        the prepared statements they keep, start empty), placed as `pgbouncer_beside` says at a
        distance, the run's binary unless the arm names another (`binary`, a variant's
        pgbouncer_binary); nothing for the others. Stopped on exit."""
        if not architecture.pgbouncer:
            yield self
            return
        if self.given_pgbouncer:  # the user's: used as it is, never started or stopped by bench
            yield dataclasses.replace(self, pgbouncer_url=self.given_pgbouncer.url)
            return
        # preflight() refuses a database given by URL with an architecture behind PgBouncer.
        assert self.postgres is not None, "bench's PgBouncer stands before bench's own PostgreSQL"
        beside_workers = self.pgbouncer_beside == "workers"
        upstream = _host_port(self.worker_database_url if beside_workers else self.database_url)
        with contextlib.ExitStack() as stack:
            pgbouncer = stack.enter_context(
                ManagedPgBouncer(
                    self.scratch_dir,
                    self.postgres,
                    upstream,
                    reset_always=architecture.pgbouncer_reset_always,
                    cpus=self.cpus.get("pgbouncer"),
                    binary=pgbouncer_binary(binary) if binary else self.pgbouncer_binary,
                )
            )
            proxies, url = self.proxies, pgbouncer.url
            if self.rtt_ms is not None and not beside_workers:  # the distance lies between the workers and PgBouncer
                proxy = stack.enter_context(
                    ManagedDelayProxy(
                        self.scratch_dir, "127.0.0.1", pgbouncer.port, self.rtt_ms, cpus=self.cpus.get("proxy")
                    )
                )
                proxies, url = (*proxies, proxy), with_address(pgbouncer.url, "127.0.0.1", proxy.port)
            yield dataclasses.replace(self, pgbouncer=pgbouncer, pgbouncer_url=url, proxies=proxies)

    def managed_processes(self) -> dict[str, ChildProcess]:
        """The servers bench started itself, by name (none for servers given by URL)."""
        servers = {
            "postgres": self.postgres,
            **{broker.name: broker for broker in self.managed_brokers.values()},
            "control": self.control,
            "pgbouncer": self.pgbouncer,
            "service": self.outside_service,
            **{f"proxy{index or ''}": proxy for index, proxy in enumerate(self.proxies)},
        }
        return {name: server.process for name, server in servers.items() if server and server.process}

    def managed_pids(self) -> dict[str, int]:
        """PIDs of the servers bench started itself (empty for servers given by URL)."""
        return {name: process.pid for name, process in self.managed_processes().items()}

    def given_by_url_probes(self) -> dict:
        """A probe for each server given by URL, for the outage watch (bench's own are not probed)."""
        probes: dict[str, DatabaseProbe | BrokerProbe] = {}
        if self.postgres is None:
            probes["database"] = DatabaseProbe(self.database_url)
        for kind, url in self.broker_urls.items():
            if kind not in self.managed_brokers:
                probes["broker"] = BrokerProbe(url)
        return probes

    def exited(self) -> str | None:
        """Why a server bench started is gone ("postgres exited (signal 9)"), or None while all run."""
        for name, process in self.managed_processes().items():
            how = process.exit_description()
            if how:
                return f"{name} exited ({how})"
        return None


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def preflight(
    database_url: str | None,
    broker_url: str | None,
    pgbouncer: bool = False,
    distance: bool = False,
    brokers: tuple[str, ...] | list[str] = ("redis",),
    control_url: str | None = None,
    pgbouncer_binary_given: str | None = None,
    pgbouncer_url: str | None = None,
) -> GivenPgBouncer | None:
    """Before anything starts: servers given by URL must answer; for the others, the binaries to start
    them must be installed (the delay proxy is built here if it has to be); a PgBouncer binary the
    profile names must be PgBouncer, whether an arm of the run needs it or not. Returns what the
    user's PgBouncer said of itself, where the run has arms behind it."""
    if pgbouncer_binary_given:
        pgbouncer_version(pgbouncer_binary(pgbouncer_binary_given))
    if distance:
        delay_proxy_binary()
    given = None
    if pgbouncer and pgbouncer_url:
        if distance:
            raise BenchError("rtt_ms puts no distance in front of your own PgBouncer (pgbouncer_url): leave out one")
        given = check_given_pgbouncer(pgbouncer_url)
    elif pgbouncer:
        if database_url:
            raise BenchError(
                "PgBouncer is started in front of the managed PostgreSQL only; give pgbouncer_url "
                "(your PgBouncer in front of your database), unset BENCH_DATABASE_URL or leave out the pgbouncer architectures"
            )
        pgbouncer_version(pgbouncer_binary(pgbouncer_binary_given))
    if database_url:
        check_database(database_url)
    else:
        postgres_bindir()
    if broker_url:
        check_broker(broker_url)
    if control_url:
        check_broker(control_url)
    for kind in set(brokers) - {broker_kind(broker_url) if broker_url else None}:
        if kind == "rabbitmq":
            rabbitmq_binaries()
        else:
            redis_server_binary()
    return given


@contextlib.contextmanager
def running_services(
    work_dir: Path,
    database_url: str | None = None,
    broker_url: str | None = None,
    max_connections: int = 100,
    postgres_settings: dict[str, str] | None = None,
    auth: str = "scram-sha-256",
    ssl: bool = False,
    redis_tls: bool = False,
    cpus: dict[str, str] | None = None,
    pgbouncer: bool = False,
    distance: bool = False,
    pgbouncer_beside: str = "workers",
    brokers: tuple[str, ...] | list[str] = ("redis",),
    control: bool = False,
    control_url: str | None = None,
    listen: str | None = None,
    outside_service_ms: float | None = None,
    pgbouncer_binary_given: str | None = None,
    pgbouncer_url: str | None = None,
) -> Iterator[Services]:
    """Start PostgreSQL and each broker of `brokers` (Redis, RabbitMQ; the first is the default one)
    where no URL is given, on the CPU sets of the roles "db" and "broker" if `cpus` names them; stop what
    was started on exit, whatever the exit. PgBouncer and the delay proxy start later, per distance
    (`Services.at_distance`). A broker_url serves the brokers of its kind. With `outside_service_ms`,
    an outside service that answers after that long (role "service")."""
    given_pgbouncer = preflight(
        database_url, broker_url, pgbouncer, distance, brokers, control_url, pgbouncer_binary_given, pgbouncer_url
    )
    cpus = cpus or {}
    with contextlib.ExitStack() as stack:
        postgres = None
        if not database_url:
            postgres = stack.enter_context(
                ManagedPostgres(
                    work_dir,
                    max_connections,
                    settings=postgres_settings,
                    auth=auth,
                    ssl=ssl,
                    cpus=cpus.get("db"),
                    listen=listen,
                )
            )
            database_url = postgres.url
        given = {broker_kind(broker_url): broker_url} if broker_url else {}
        urls, managed = {}, {}
        for kind in brokers:
            if kind in given:
                urls[kind] = given[kind]
                continue
            if kind == "rabbitmq":
                managed[kind] = stack.enter_context(ManagedRabbitMQ(work_dir, cpus=cpus.get("broker")))
            else:
                managed[kind] = stack.enter_context(
                    ManagedRedis(work_dir, cpus=cpus.get("broker"), listen=listen, tls=redis_tls)
                )
            urls[kind] = managed[kind].url
        control_server = None
        if control and not control_url:
            control_server = stack.enter_context(ManagedRedis(work_dir, name="control", listen=listen, tls=redis_tls))
        outside = None
        if outside_service_ms is not None:
            outside = stack.enter_context(
                ManagedOutsideService(work_dir, outside_service_ms, cpus=cpus.get("service"), listen=listen)
            )
        yield Services(
            database_url,
            urls,
            postgres,
            managed,
            work_dir,
            cpus,
            pgbouncer_beside,
            pgbouncer_binary=pgbouncer_binary(pgbouncer_binary_given) if pgbouncer and not given_pgbouncer else None,
            given_pgbouncer=given_pgbouncer,
            control=control_server,
            given_control_url=control_url,
            outside_service=outside,
        )


def services_for(
    profile, work_dir: Path, pgbouncer: bool, outside_service_ms: float | None = None
) -> contextlib.AbstractContextManager[Services]:
    """The servers a profile's server and topology sections ask for (`running_services`), once for a
    run; `pgbouncer` says whether an architecture of the run needs one, `outside_service_ms` whether
    its workload calls an outside service."""
    return running_services(
        work_dir,
        profile.database_url,
        profile.broker_url,
        profile.max_connections,
        auth=profile.auth,
        ssl=profile.ssl,
        redis_tls=profile.redis_tls,
        cpus=profile.cpus,
        pgbouncer=pgbouncer,
        distance=profile.distances() != [None],
        brokers=profile.brokers(),
        control=profile.via_control(),
        control_url=profile.control_url,
        listen=profile.listen,
        pgbouncer_beside=profile.pgbouncer_beside,
        outside_service_ms=outside_service_ms,
        pgbouncer_binary_given=profile.pgbouncer_binary,
        pgbouncer_url=profile.pgbouncer_url,
    )
