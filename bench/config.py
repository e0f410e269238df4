"""Configuration, merged in one place and one direction:
built-in defaults < `bench.toml` profile (after the chain of `base` profiles it names) < environment < flags.

`bench.toml` holds `default_profile = "NAME"`, an optional `[services]` table and `[profiles.NAME]`
tables whose keys are the fields of `Profile` below.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.arms import Arm, parse_arms
from bench.errors import BenchError
from bench.processes import parse_cpu_list

ARRIVALS = ("uniform", "poisson")
AUTH_METHODS = ("scram-sha-256", "trust")
BROKERS = ("redis", "rabbitmq")
RECORDS = ("files", "control")
ROLES = ("db", "workers", "broker", "loadgen", "pgbouncer", "proxy")
"""The roles that can be given CPU sets."""
ENV_OVERRIDES = {"BENCH_DATABASE_URL": "database_url", "BENCH_BROKER_URL": "broker_url",
                 "BENCH_CONTROL_URL": "control_url"}


@dataclass
class Profile:
    """Everything one run needs to know; units are in the names."""

    name: str = "default"
    architectures: list[str] = field(default_factory=lambda: ["prefork-nullpool"])
    """Architectures to measure, in order; `name@rabbitmq` (or `@redis`) runs one on another broker than
    `broker` in the same run (see bench.arms)."""
    workload: str = "point_select"
    workload_params: dict[str, Any] = field(default_factory=dict)
    """Workload settings, e.g. {"sleep_ms": 20} for io_wait."""
    table_rows: int = 10_000
    """Rows seeded into the workload's table."""
    rates: list[float | str] = field(default_factory=lambda: [25.0, 50.0, 100.0])
    """Offered rate of each step, tasks/s; "max" for a saturation step (`saturation_tasks` at once)."""
    saturation_tasks: int = 2000
    """Tasks enqueued at once by a "max" step; the step measures how fast they drain."""
    step_seconds: float = 10.0
    """Measured part of each step, s."""
    warmup_seconds: float = 2.0
    """Least warm-up before each rate step, s: the step's schedule, until every worker process has
    finished a task and the warm-up's backlog is gone (bench/warmup.py); its tasks are not measured."""
    warmup_max_seconds: float = 30.0
    """Most warm-up before each rate step, s; a step measured after a warm-up that reached it may start
    on a backlog (then `unsteady`)."""
    drain_timeout_seconds: float = 30.0
    """How long a step waits, after its last arrival and then after each task that finishes, for the
    outstanding tasks before counting them lost, s."""
    arrival: str = "uniform"
    """Arrival process: uniform spacing or poisson (exponential gaps)."""
    random_seed: int = 1
    repeat: int = 1
    """Runs of each step, back to back; steps.csv then holds each run and their mean and 95 % CI."""
    saturation_repeat: int | None = None
    """Runs of each "max" step (default: `repeat`); reported by their median and min–max, since single
    saturation runs vary by 10-20 % on a small shared machine."""
    worker_processes: int = 2
    """Worker processes of every architecture (prefork concurrency; gevent and taskiq worker processes)."""
    tasks_per_process: int = 10
    """Tasks one process runs at once where it can run several (gevent greenlets, taskiq async tasks)."""
    task_time_limit_seconds: float = 5.0
    """Per-task time limit of every architecture: a hung task becomes a counted timeout."""
    pool_size: int = 10
    """Connections a pooled engine keeps per process. Below tasks_per_process, overflow connections
    are closed on return (SQLAlchemy's QueuePool), so connections churn."""
    max_overflow: int = 5
    prefetch_multiplier: int = 4
    """Celery's worker_prefetch_multiplier (Celery's default, 4), the same for every Celery architecture."""
    max_connections: int = 100
    """max_connections of the managed PostgreSQL."""
    auth: str = "scram-sha-256"
    """Authentication of the managed PostgreSQL: "scram-sha-256" or "trust"."""
    ssl: bool = False
    """TLS to the managed PostgreSQL (a self-signed certificate made for the run)."""
    redis_tls: bool = False
    """TLS to the managed Redis servers (the broker and the control channel), with a certificate made
    for the run; clients encrypt without verifying it (rediss://...?ssl_cert_reqs=none)."""
    loadgen_users: int = 8
    """Locust users (greenlets) sharing the arrival schedule; more absorb slow enqueues. Per process."""
    loadgen_processes: int = 1
    """Load generator processes that send: above 1, Locust's distributed mode (a master and this many
    workers), each worker sending every N-th arrival of the schedule. One process tops out at a few
    thousand tasks/s."""
    external_loadgens: int = 0
    """Load generators on other hosts (`bench loadgen --master HOST:PORT`, one sending process each)
    that every step waits for and gives its share of the schedule, beside the local processes."""
    loadgen_port: int = 5557
    """With external_loadgens: the port each step's Locust master listens on (Locust's own default),
    on `listen` when set, else on loopback."""
    cpus: dict[str, str] = field(default_factory=dict)
    """CPU set of each role, as taskset lists them: e.g. {db = "0", workers = "1", broker = "1",
    loadgen = "1"}; roles left out run anywhere. Steps then name the role that ran out (`bound_role`)."""
    rtt_ms: float | list[float] | None = None
    """Round-trip time between the workers and the database, ms, made by a delay proxy bench starts
    between them (0: the proxy without delay, to see its own cost); a list steps the whole run through
    each distance in turn. None: no proxy, the workers connect to the server directly."""
    pgbouncer_beside: str = "workers"
    """With rtt_ms, where PgBouncer runs: "workers" (the distance lies between PgBouncer and PostgreSQL)
    or "database" (between the workers and PgBouncer)."""
    calibrate_tls: bool = True
    """At the start, time what TLS adds to a connection (about 4 s) for the capacity model's TLS what-if;
    without it the what-if counts TLS's round trips only."""
    pgbench_check: bool = False
    """At the end of the run, time `pgbench -C` (a new connection per transaction) on the managed server at
    the lowest rate: an independent count of the database CPU a connection per task costs."""
    plan_rate_per_s: float = 1000.0
    """The rate the advice and the report plan for (what it would need of each role); `bench plan` takes any."""
    slo_p99_ms: float = 500.0
    """Service level for `bench advise`: end-to-end p99 latency target, ms."""
    connection_budget: int | None = None
    """Connections the database can give these workers; default: the server's max_connections less 5."""
    database_url: str | None = None
    """An existing PostgreSQL to use instead of a managed one."""
    broker: str = "redis"
    """The broker bench starts: "redis" or "rabbitmq" (a node of its own; taskiq's async-queue needs Redis)."""
    broker_url: str | None = None
    """An existing broker to use instead of a managed one: redis:// or amqp://."""
    workers: str = "local"
    """Where the workers run: "local" (bench starts them) or "external" (`bench worker` agents on other
    hosts run them, records and clock offsets coming over the control channel)."""
    external_workers: int = 1
    """With workers = "external": the bench worker agents to wait for before each architecture's steps."""
    control_url: str | None = None
    """A Redis of the user's for the control channel (reachable by every agent), instead of bench's own."""
    listen: str | None = None
    """An address (of this host) the managed PostgreSQL and Redis servers also listen on, for workers
    on other hosts; their URLs then name it, and Redis requires a random password. None: loopback only."""
    records: str = "files"
    """How task records reach bench: "files" (workers on this host) or "control" (through a Redis of
    bench's own, with each worker's clock offset: what workers on other hosts need)."""

    def validate(self) -> "Profile":
        _check(self.architectures, "architectures must name at least one architecture")
        _check(self.rates, "rates must list at least one rate")
        for rate in self.rates:
            if rate == "max":
                continue
            _check(isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0,
                   f"every rate must be a number of tasks/s above 0 or \"max\", got {rate!r}")
            _check(rate * (self.step_seconds + self.warmup_seconds) <= 1_000_000,
                   f"rate {rate:g}/s over {self.step_seconds:g} s is more than the 1,000,000 tasks a step may hold")
        _check(self.step_seconds > 0, f"step_seconds must be above 0, got {self.step_seconds!r}")
        _check(self.warmup_seconds >= 0, f"warmup_seconds must be 0 or more, got {self.warmup_seconds!r}")
        _check(isinstance(self.warmup_max_seconds, (int, float)) and not isinstance(self.warmup_max_seconds, bool)
               and self.warmup_max_seconds >= self.warmup_seconds,
               f"warmup_max_seconds must be a number of seconds of at least warmup_seconds ({self.warmup_seconds:g}), "
               f"got {self.warmup_max_seconds!r}")
        _check(self.auth in AUTH_METHODS, f"auth must be one of {', '.join(AUTH_METHODS)}, got {self.auth!r}")
        _check(isinstance(self.ssl, bool), f"ssl must be true or false, got {self.ssl!r}")
        _check(isinstance(self.redis_tls, bool), f"redis_tls must be true or false, got {self.redis_tls!r}")
        _check(self.arrival in ARRIVALS, f"arrival must be one of {', '.join(ARRIVALS)}, got {self.arrival!r}")
        _check(self.task_time_limit_seconds > 0, "task_time_limit_seconds must be above 0")
        _check(self.plan_rate_per_s > 0, f"plan_rate_per_s must be above 0, got {self.plan_rate_per_s!r}")
        _check(self.slo_p99_ms > 0, f"slo_p99_ms must be above 0, got {self.slo_p99_ms!r}")
        _check(self.connection_budget is None or self.connection_budget >= 1,
               f"connection_budget must be at least 1, got {self.connection_budget!r}")
        for key in ("worker_processes", "table_rows", "max_connections", "loadgen_users", "loadgen_processes", "pool_size",
                    "tasks_per_process", "saturation_tasks", "prefetch_multiplier", "repeat"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, f"{key} must be a whole number of at least 1, got {value!r}")
        _check(self.saturation_repeat is None or (isinstance(self.saturation_repeat, int) and self.saturation_repeat >= 1),
               f"saturation_repeat must be a whole number of at least 1, got {self.saturation_repeat!r}")
        self._validate_cpus()
        for rtt in self.distances():
            _check(rtt is None or (isinstance(rtt, (int, float)) and not isinstance(rtt, bool) and 0 <= rtt <= 10_000),
                   f"rtt_ms must be a number of ms from 0 to 10000 or a list of them, got {rtt!r}")
        _check(len(set(self.distances())) == len(self.distances()), f"rtt_ms lists a distance twice: {self.rtt_ms!r}")
        _check(self.broker in BROKERS, f"broker must be one of {', '.join(BROKERS)}, got {self.broker!r}")
        _check(self.records in RECORDS, f"records must be one of {', '.join(RECORDS)}, got {self.records!r}")
        self._validate_listen()
        _check(self.workers in ("local", "external"), f"workers must be \"local\" or \"external\", got {self.workers!r}")
        _check(isinstance(self.external_workers, int) and self.external_workers >= 1,
               f"external_workers must be a whole number of at least 1, got {self.external_workers!r}")
        _check(isinstance(self.external_loadgens, int) and not isinstance(self.external_loadgens, bool)
               and self.external_loadgens >= 0,
               f"external_loadgens must be a whole number of 0 or more, got {self.external_loadgens!r}")
        _check(isinstance(self.loadgen_port, int) and 1024 <= self.loadgen_port <= 65535,
               f"loadgen_port must be a port from 1024 to 65535, got {self.loadgen_port!r}")
        self._validate_arms()
        _check(self.pgbouncer_beside in ("workers", "database"),
               f"pgbouncer_beside must be \"workers\" or \"database\", got {self.pgbouncer_beside!r}")
        _check(self.max_overflow >= 0, f"max_overflow must be 0 or more, got {self.max_overflow!r}")
        _check(self.saturation_tasks <= 1_000_000, "saturation_tasks may be at most 1,000,000")
        return self

    def _validate_listen(self) -> None:
        if self.listen is None:
            return
        import ipaddress

        try:
            address = ipaddress.ip_address(str(self.listen))
        except ValueError:
            raise BenchError(f"listen must be an IP address of this host, got {self.listen!r}") from None
        _check(not address.is_loopback, f"listen = {self.listen!r} is loopback, where the servers listen anyway")
        _check("rabbitmq" not in self.brokers(), "listen covers PostgreSQL and Redis; the RabbitMQ node stays on loopback")
        _check(self.auth != "trust", "auth = \"trust\" with listen would let anyone who reaches the address in")

    def via_control(self) -> bool:
        """Task records come over the control channel: asked for, or the only way from other hosts."""
        return self.records == "control" or self.workers == "external"

    def default_broker(self) -> str:
        """The broker of the architectures named without `@broker`: that of broker_url when one is given."""
        if self.broker_url:
            from bench.services.brokers import broker_kind

            return broker_kind(self.broker_url)
        return self.broker

    def arms(self) -> list[Arm]:
        return parse_arms(self.architectures, self.default_broker())

    def brokers(self) -> list[str]:
        """The brokers the run needs, the default one first."""
        return list(dict.fromkeys([self.default_broker(), *(arm.broker for arm in self.arms())]))

    def _validate_arms(self) -> None:
        seen = set()
        for arm in self.arms():
            _check(arm.broker in BROKERS, f"{arm.label}: the broker after \"@\" must be one of {', '.join(BROKERS)}")
            _check((arm.architecture, arm.broker) not in seen,
                   f"architectures names {arm.architecture} on {arm.broker} twice")
            seen.add((arm.architecture, arm.broker))

    def distances(self) -> list[float | None]:
        """The distances the run steps through: [None] without rtt_ms."""
        if isinstance(self.rtt_ms, list):
            _check(self.rtt_ms, "rtt_ms must list at least one distance")
            return list(self.rtt_ms)
        return [self.rtt_ms]

    def _validate_cpus(self) -> None:
        _check(isinstance(self.cpus, dict), f"cpus must be a table of role = \"CPU list\", got {self.cpus!r}")
        unknown = set(self.cpus) - set(ROLES)
        _check(not unknown, f"cpus: unknown role(s) {', '.join(sorted(unknown))} (roles: {', '.join(ROLES)})")
        for role, text in self.cpus.items():
            try:
                parse_cpu_list(str(text))
            except ValueError as exc:
                raise BenchError(f"cpus.{role} = {text!r} is not a usable CPU list: {exc}") from None

    def redacted(self) -> dict[str, Any]:
        """The resolved profile as written to run.json: URLs without passwords."""
        from bench.services.urls import redact_url

        data = dataclasses.asdict(self)
        for key in ENV_OVERRIDES.values():
            if data[key]:
                data[key] = redact_url(data[key])
        return data


def _check(condition: Any, message: str) -> None:
    if not condition:
        raise BenchError(message)


FIELDS = {f.name for f in dataclasses.fields(Profile)}


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse bench.toml; a syntax error becomes one line naming the file and the place."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise BenchError(f"configuration file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path} is not valid TOML: {exc}") from None


def profile_names(config: dict[str, Any]) -> list[str]:
    return list(config.get("profiles", {}))


def default_profile_name(config: dict[str, Any]) -> str:
    return config.get("default_profile", "quick")


def resolve_profile(config: dict[str, Any], name: str | None, overrides: dict[str, Any],
                    environ: dict[str, str] | None = None) -> Profile:
    """The profile `name` with its bases, the [services] table, the environment and `overrides` applied."""
    name = name or default_profile_name(config)
    values: dict[str, Any] = {}
    values.update(_services_table(config))
    values.update(_profile_chain(config, name))
    environ = os.environ if environ is None else environ
    values.update({key: environ[var] for var, key in ENV_OVERRIDES.items() if environ.get(var)})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Profile(name=name, **values).validate()


def _services_table(config: dict[str, Any]) -> dict[str, Any]:
    services = config.get("services", {})
    unknown = set(services) - {"database_url", "broker_url", "control_url"}
    _check(not unknown, f"unknown key(s) in [services]: {', '.join(sorted(unknown))}")
    return dict(services)


def _profile_chain(config: dict[str, Any], name: str) -> dict[str, Any]:
    profiles = config.get("profiles", {})
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in profiles:
            known = ", ".join(profiles) or "none"
            raise BenchError(f"unknown profile {current!r} (profiles: {known})")
        _check(current not in chain, f"profile {current!r} names itself as a base, through {' -> '.join(chain)}")
        chain.append(current)
        current = profiles[current].get("base")
    merged: dict[str, Any] = {}
    for profile_name in reversed(chain):
        table = {k: v for k, v in profiles[profile_name].items() if k != "base"}
        unknown = set(table) - FIELDS
        _check(not unknown, f"unknown key(s) in profile {profile_name!r}: {', '.join(sorted(unknown))}")
        merged.update(table)
    return merged
