"""Configuration, merged in one place and one direction:
built-in defaults < `bench.toml` profile (after the chain of `base` profiles it names) < environment < flags.

`bench.toml` holds `default_profile = "NAME"`, an optional `[services]` table and `[profiles.NAME]`
tables whose keys are the fields of `Profile` below. `Profile` is the one source of each setting's
type, default, allowed values, help text and command-line flag (bench/commands/run.py makes the
flags from it); a value that does not fit ends the run before anything starts, in one line that
names the key, the value, where it came from and what is allowed.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.settings.arms import Arm, parse_arms
from bench.errors import BenchError
from bench.processes import parse_cpu_list

Role = Literal["db", "workers", "broker", "loadgen", "pgbouncer", "proxy", "service"]
"""The roles that can be given CPU sets."""
ROLES: tuple[str, ...] = get_args(Role)
ENV_OVERRIDES = {
    "BENCH_DATABASE_URL": "database_url",
    "BENCH_BROKER_URL": "broker_url",
    "BENCH_CONTROL_URL": "control_url",
    "BENCH_PGBOUNCER_BINARY": "pgbouncer_binary",
    "BENCH_PGBOUNCER_URL": "pgbouncer_url",
}
MAX_TASKS_PER_STEP = 1_000_000
STEP_KINDS = ("max", "burst")
VARIANT_SERVER_KEYS = ("pgbouncer_binary",)
"""Keys of a variant that are not workload settings: the PgBouncer the arm runs behind."""
"""The `rates` that name a kind of step (saturation, bursts) rather than tasks/s."""

Rate = Annotated[int, Field(gt=0)] | Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A rate of tasks/s: whole numbers stay whole (run.json shows 25, not 25.0)."""
Distance = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]


CONFIG = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True, validate_default=True)
"""Strict: no bool where a number is meant, no string where a list is; no key the profile lacks."""


def setting(
    default: Any = None, *, allowed: str, flag: bool = False, flag_form: str = "", factory=None, **constraints
) -> Any:
    """A profile field: what values it allows (said when one does not fit), whether `bench run` has a
    flag for it (`--name-with-dashes`) and, where the flag's text differs from the value's, how it is
    written (`flag_form`: a metavar, then how)."""
    extra: dict[str, Any] = {"allowed": allowed, "flag": flag, "flag_form": flag_form}
    if factory is not None:
        return Field(default_factory=factory, json_schema_extra=extra, **constraints)
    return Field(default, json_schema_extra=extra, **constraints)


class LoadSettings(BaseModel):
    """The profile's load section: what is sent, how fast, for how long."""

    model_config = CONFIG

    architectures: list[str] = setting(
        flag=True,
        factory=lambda: ["prefork-nullpool"],
        min_length=1,
        flag_form="NAME,...: comma-separated",
        allowed="a list of at least one architecture name (`bench list-profiles` shows them)",
    )
    """Architectures to measure, in order; `name@rabbitmq` (or `@redis`) runs one on another broker than
    `broker` in the same run (see bench.settings.arms)."""
    workload: str = setting("point_select", flag=True, allowed="a workload name", flag_form="NAME")
    """The task body every architecture runs (bench/workloads)."""
    workload_params: dict[str, Any] = setting(factory=dict, allowed="a table of the workload's settings")
    """Workload settings, e.g. {"sleep_ms": 20} for io_wait."""
    variants: dict[str, dict[str, Any]] = setting(factory=dict, allowed="a table of variant = {workload settings}")
    """Workload settings an arm `name#variant` runs with on top of `workload_params` (bench.settings.arms),
    and for an arm behind PgBouncer its own `pgbouncer_binary` (the profile `pgbouncer` runs two)."""
    table_rows: int = setting(10_000, flag=True, ge=1, allowed="a whole number of at least 1")
    """Rows seeded into the workload's table."""
    rates: list[Rate | Literal["max", "burst"]] = setting(
        flag=True,
        factory=lambda: [25.0, 50.0, 100.0],
        min_length=1,
        flag_form="RATE,...: comma-separated, e.g. 50,100,max,burst",
        allowed='a list of at least one rate, each a number of tasks/s above 0, "max" or "burst"',
    )
    """Offered rate of each step, tasks/s; "max" for a saturation step (`saturation_tasks` at once);
    "burst" for a burst step (`burst_tasks` at once every `burst_period_s`, on running workers)."""
    burst_tasks: int = setting(
        500, flag=True, ge=1, le=MAX_TASKS_PER_STEP, allowed=f"a whole number from 1 to {MAX_TASKS_PER_STEP:,}"
    )
    """Tasks of each burst of a "burst" step, all due at once (a Celery beat fan-out)."""
    burst_period_s: float = setting(10.0, flag=True, gt=0, allow_inf_nan=False, allowed="a number of seconds above 0")
    """Seconds between the bursts of a "burst" step, which sends step_seconds / burst_period_s of them (at least one)."""
    saturation_tasks: int = setting(
        2000, flag=True, ge=1, le=MAX_TASKS_PER_STEP, allowed=f"a whole number from 1 to {MAX_TASKS_PER_STEP:,}"
    )
    """Tasks enqueued at once by a "max" step; the step measures how fast they drain."""
    step_seconds: float = setting(10.0, flag=True, gt=0, allow_inf_nan=False, allowed="a number of seconds above 0")
    """Measured part of each step, s."""
    warmup_seconds: float = setting(2.0, flag=True, ge=0, allow_inf_nan=False, allowed="a number of seconds, 0 or more")
    """Least warm-up before each rate step, s: the step's schedule, until every worker process has
    finished a task and the warm-up's backlog is gone (bench/run/warmup.py); its tasks are not measured."""
    warmup_max_seconds: float = setting(
        30.0, flag=True, ge=0, allow_inf_nan=False, allowed="a number of seconds of at least warmup_seconds"
    )
    """Most warm-up before each rate step, s; a step measured after a warm-up that reached it may start
    on a backlog (then `unsteady`)."""
    drain_timeout_seconds: float = setting(30.0, gt=0, allow_inf_nan=False, allowed="a number of seconds above 0")
    """How long a step waits, after its last arrival and then after each task that finishes, for the
    outstanding tasks before counting them lost, s."""
    arrival: Literal["uniform", "poisson"] = setting("uniform", flag=True, allowed="uniform or poisson")
    """Arrival process: uniform spacing or poisson (exponential gaps)."""
    random_seed: int = setting(1, allowed="a whole number")
    """Seed of the arrival schedule and of the workload's random rows."""
    repeat: int = setting(1, flag=True, ge=1, allowed="a whole number of at least 1")
    """Runs of each step, back to back; steps.csv then holds each run and their mean and 95 % CI."""
    saturation_repeat: int | None = setting(None, flag=True, ge=1, allowed="a whole number of at least 1")
    """Runs of each "max" step (default: `repeat`); reported by their median and min–max, since single
    saturation runs vary by 10-20 % on a small shared machine."""
    probe: bool = setting(False, flag=True, allowed="true or false (on or off)")
    """Fit the run to the task: a short step of the first architecture (the recipe) at a low rate tells
    how long its task takes and how much of it waits; then the run measures the recipe and, of the other
    architectures, one per adoption class suited to that, at rates around the recipe's limit
    (bench/run/arm_choice.py); `rates` is not used."""
    loadgen_users: int = setting(8, ge=1, allowed="a whole number of at least 1")
    """Locust users (greenlets) sharing the arrival schedule; more absorb slow enqueues. Per process."""
    loadgen_processes: int = setting(1, flag=True, ge=1, allowed="a whole number of at least 1")
    """Load generator processes that send: above 1, Locust's distributed mode (a master and this many
    workers), each worker sending every N-th arrival of the schedule. One process tops out at a few
    thousand tasks/s."""
    external_loadgens: int = setting(0, flag=True, ge=0, allowed="a whole number, 0 or more")
    """Load generators on other hosts (`bench loadgen --master HOST:PORT`, one sending process each)
    that every step waits for and gives its share of the schedule, beside the local processes."""
    loadgen_port: int = setting(5557, flag=True, ge=1024, le=65535, allowed="a port from 1024 to 65535")
    """With external_loadgens: the port each step's Locust master listens on (Locust's own default),
    on `listen` when set, else on loopback."""


class WorkerSettings(BaseModel):
    """The profile's workers section: how tasks are run."""

    model_config = CONFIG

    worker_processes: int = setting(2, flag=True, ge=1, allowed="a whole number of at least 1")
    """Worker processes of every architecture (prefork concurrency; gevent and taskiq worker processes)."""
    tasks_per_process: int = setting(10, flag=True, ge=1, allowed="a whole number of at least 1")
    """Tasks one process runs at once where it can run several (gevent greenlets, taskiq async tasks)."""
    task_time_limit_seconds: float = setting(5.0, gt=0, allow_inf_nan=False, allowed="a number of seconds above 0")
    """Per-task time limit of every architecture: a hung task becomes a counted timeout."""
    pool_size: int = setting(10, ge=1, allowed="a whole number of at least 1")
    """Connections a pooled engine keeps per process. Below tasks_per_process, overflow connections
    are closed on return (SQLAlchemy's QueuePool), so connections churn."""
    max_overflow: int = setting(5, ge=0, allowed="a whole number, 0 or more")
    """Connections a pooled engine may open beyond pool_size, per process."""
    prefetch_multiplier: int = setting(4, ge=1, allowed="a whole number of at least 1")
    """Celery's worker_prefetch_multiplier (Celery's default, 4), the same for every Celery architecture."""
    workers: Literal["local", "external"] = setting("local", flag=True, allowed="local or external")
    """Where the workers run: "local" (bench starts them) or "external" (`bench worker` agents on other
    hosts run them, records and clock offsets coming over the control channel)."""
    external_workers: int = setting(1, flag=True, ge=1, allowed="a whole number of at least 1")
    """With workers = "external": the bench worker agents to wait for before each architecture's steps."""
    records: Literal["files", "control"] = setting("files", flag=True, allowed="files or control")
    """How task records reach bench: "files" (workers on this host) or "control" (through a Redis of
    bench's own, with each worker's clock offset: what workers on other hosts need)."""


class ServerSettings(BaseModel):
    """The profile's servers section: what bench starts, or the user's own."""

    model_config = CONFIG

    max_connections: int = setting(100, flag=True, ge=1, allowed="a whole number of at least 1")
    """max_connections of the managed PostgreSQL."""
    auth: Literal["scram-sha-256", "trust"] = setting("scram-sha-256", flag=True, allowed="scram-sha-256 or trust")
    """Authentication of the managed PostgreSQL."""
    ssl: bool = setting(False, flag=True, allowed="true or false (on or off)")
    """TLS to the managed PostgreSQL (a self-signed certificate made for the run)."""
    redis_tls: bool = setting(False, flag=True, allowed="true or false (on or off)")
    """TLS to the managed Redis servers (the broker and the control channel), with a certificate made
    for the run; clients encrypt without verifying it (rediss://...?ssl_cert_reqs=none)."""
    broker: Literal["redis", "rabbitmq"] = setting("redis", flag=True, allowed="redis or rabbitmq")
    """The broker bench starts (a node of its own; taskiq's async-queue needs Redis)."""
    database_url: str | None = setting(None, allowed="a postgresql:// URL")
    """An existing PostgreSQL to use instead of a managed one."""
    broker_url: str | None = setting(None, allowed="a redis:// or amqp:// URL")
    """An existing broker to use instead of a managed one: redis:// or amqp://."""
    control_url: str | None = setting(None, allowed="a redis:// URL")
    """A Redis of the user's for the control channel (reachable by every agent), instead of bench's own."""
    pgbouncer_url: str | None = setting(None, allowed="a postgresql:// URL")
    """A PgBouncer of the user's, in front of `database_url`: the PgBouncer arms connect through it
    instead of a PgBouncer of bench's; checked before the run, never stopped."""
    listen: str | None = setting(
        None, flag=True, allowed="an IP address of this host, not loopback", flag_form="ADDRESS"
    )
    """An address (of this host) the managed PostgreSQL and Redis servers also listen on, for workers
    on other hosts; their URLs then name it, and Redis requires a random password. None: loopback only."""
    pgbouncer_binary: str | None = setting(None, flag=True, allowed="the path of a PgBouncer binary", flag_form="PATH")
    """The PgBouncer the PgBouncer arms run behind. None: bench's build of 1.24 (scripts/setup.sh makes
    it), else the system's (Debian 12's is 1.18)."""
    calibrate_tls: bool = setting(True, allowed="true or false")
    """At the start, time what TLS adds to a connection (about 4 s) for the capacity model's TLS what-if;
    without it the what-if counts TLS's round trips only."""


class TopologySettings(BaseModel):
    """The profile's topology section: where each role runs, how far apart."""

    model_config = CONFIG

    cpus: dict[Role, str] = setting(
        flag=True,
        factory=dict,
        flag_form='ROLE=CPUS;...: e.g. "db=0;workers=1;broker=1"',
        allowed=f'a table of role = "CPU list" (roles: {", ".join(ROLES)})',
    )
    """CPU set of each role, as taskset lists them: e.g. {db = "0", workers = "1", broker = "1",
    loadgen = "1"}; roles left out run anywhere. Steps then name the role that ran out (`bound_role`)."""
    rtt_ms: Distance | Annotated[list[Distance], Field(min_length=1)] | None = setting(
        None,
        flag=True,
        allowed="a number of ms from 0 to 10000, or a list of at least one",
        flag_form="MS,...: comma-separated to step through several, e.g. 0,1,5",
    )
    """Round-trip time between the workers and the database, ms, made by a delay proxy bench starts
    between them (0: the proxy without delay, to see its own cost); a list steps the whole run through
    each distance in turn. None: no proxy, the workers connect to the server directly."""
    pgbouncer_beside: Literal["workers", "database"] = setting("workers", allowed="workers or database")
    """With rtt_ms, where PgBouncer runs: "workers" (the distance lies between PgBouncer and PostgreSQL)
    or "database" (between the workers and PgBouncer)."""


class AnalysisSettings(BaseModel):
    """The profile's analysis section: what the advice judges against."""

    model_config = CONFIG

    pgbench_check: bool = setting(False, flag=True, allowed="true or false (on or off)")
    """At the end of the run, time `pgbench -C` (a new connection per transaction) on the managed server at
    the lowest rate: an independent count of the database CPU a connection per task costs."""
    plan_rate_per_s: float = setting(1000.0, gt=0, allow_inf_nan=False, allowed="a number of tasks/s above 0")
    """The rate the advice and the report plan for (what it would need of each role); `bench plan` takes any."""
    target_rate: float | None = setting(
        None, flag=True, gt=0, allow_inf_nan=False, allowed="a number of tasks/s above 0", flag_form="RATE"
    )
    """Your peak rate, tasks/s. With it the run measures the recipe at it and at target_rate x headroom,
    and each way out at least at target_rate x headroom; the advice opens with the recipe's headroom and
    the least-effort way out that holds target_rate x headroom, and a run whose recipe does not hold
    that ends with exit code 4 (bench/analysis/verdict.py)."""
    headroom: float = setting(
        1.5, flag=True, ge=1, allow_inf_nan=False, allowed="a factor of 1 or more", flag_form="FACTOR"
    )
    """Room to grow the recipe and a way out must hold above target_rate: they must sustain
    target_rate x headroom."""
    slo_p99_ms: float = setting(500.0, gt=0, allow_inf_nan=False, allowed="a number of ms above 0")
    """Service level for `bench advise`: end-to-end p99 latency target, ms."""
    connection_budget: int | None = setting(None, ge=1, allowed="a whole number of at least 1")
    """Connections the database can give these workers; default: the server's max_connections less 5."""


class Profile(LoadSettings, WorkerSettings, ServerSettings, TopologySettings, AnalysisSettings):
    """Everything one run needs to know, its sections' fields side by side (bench.toml's profiles are
    flat tables); units are in the names."""

    model_config = CONFIG

    name: str = "default"
    """The profile's name in bench.toml (not a key of its own)."""

    def check_together(self) -> "Profile":
        """What no single value shows: the values that must fit together, and against this machine."""
        if "burst" in self.rates:
            _check(
                self.burst_tasks * self.bursts_per_step() <= MAX_TASKS_PER_STEP,
                f"{self.bursts_per_step()} bursts of {self.burst_tasks} tasks are more than the "
                f"{MAX_TASKS_PER_STEP:,} tasks a step may hold",
            )
        targets = [] if self.target_rate is None else [self.target_rate, self.target_rate * self.headroom]
        for rate in [*self.rates, *targets]:
            if not isinstance(rate, str):  # not one of STEP_KINDS
                _check(
                    rate * (self.step_seconds + self.warmup_seconds) <= MAX_TASKS_PER_STEP,
                    f"rate {rate:g}/s over {self.step_seconds:g} s is more than the {MAX_TASKS_PER_STEP:,} tasks a step may hold",
                )
        _check(
            self.warmup_max_seconds >= self.warmup_seconds,
            f"warmup_max_seconds = {self.warmup_max_seconds:g}: must be a number of seconds of at least "
            f"warmup_seconds ({self.warmup_seconds:g})",
        )
        for role, text in self.cpus.items():
            try:
                parse_cpu_list(text)
            except ValueError as exc:
                raise BenchError(f"cpus.{role} = {text!r} is not a usable CPU list: {exc}") from None
        _check(len(set(self.distances())) == len(self.distances()), f"rtt_ms lists a distance twice: {self.rtt_ms!r}")
        self._check_listen()
        self._check_arms()
        self._check_given_pgbouncer()
        _check(
            not self.probe or self.distances() == [None] or len(self.distances()) == 1,
            "probe = true fits the run at one distance: give rtt_ms one value, or set probe = false",
        )
        return self

    def _check_listen(self) -> None:
        if self.listen is None:
            return
        import ipaddress

        try:
            address = ipaddress.ip_address(self.listen)
        except ValueError:
            raise BenchError(f"listen must be an IP address of this host, got {self.listen!r}") from None
        _check(not address.is_loopback, f"listen = {self.listen!r} is loopback, where the servers listen anyway")
        _check(
            "rabbitmq" not in self.brokers(), "listen covers PostgreSQL and Redis; the RabbitMQ node stays on loopback"
        )
        _check(self.auth != "trust", 'auth = "trust" with listen would let anyone who reaches the address in')

    def _check_arms(self) -> None:
        seen = set()
        for arm in self.arms():
            _check(
                not arm.variant or arm.variant in self.variants,
                f"{arm.label}: no variant {arm.variant!r} in the profile's variants ({', '.join(self.variants) or 'none'})",
            )
            binary = self.variants.get(arm.variant, {}).get("pgbouncer_binary")
            _check(
                binary is None or (isinstance(binary, str) and binary != ""),
                f"{arm.label}: the variant's pgbouncer_binary must be the path of a PgBouncer binary, built or system",
            )
            _check(arm.broker in BROKERS, f'{arm.label}: the broker after "@" must be one of {", ".join(BROKERS)}')
            _check(
                (arm.architecture, arm.broker, arm.variant) not in seen,
                f"architectures names {arm.architecture} on {arm.broker} twice",
            )
            seen.add((arm.architecture, arm.broker, arm.variant))

    def _check_given_pgbouncer(self) -> None:
        if not self.pgbouncer_url:
            return
        _check(
            self.database_url is not None,
            "pgbouncer_url needs database_url too: the database behind your PgBouncer, which bench reads its counts from",
        )
        for arm in self.arms():
            _check(
                "pgbouncer_binary" not in self.variants.get(arm.variant, {}),
                f"{arm.label}: its variant names a pgbouncer_binary, but pgbouncer_url serves every PgBouncer arm",
            )

    def needed_rate(self) -> float | None:
        """What the recipe and a way out must sustain: target_rate x headroom (None without a target)."""
        return None if self.target_rate is None else self.target_rate * self.headroom

    def bursts_per_step(self) -> int:
        """Bursts of a "burst" step: as many periods as fit in step_seconds, at least one."""
        return max(1, int(self.step_seconds // self.burst_period_s))

    def via_control(self) -> bool:
        """Task records come over the control channel: asked for, or the only way from other hosts."""
        return self.records == "control" or self.workers == "external"

    def default_broker(self) -> str:
        """The broker of the architectures named without `@broker`: that of broker_url when one is given."""
        if self.broker_url:
            from bench.urls import broker_kind

            return broker_kind(self.broker_url)
        return self.broker

    def arms(self) -> list[Arm]:
        return parse_arms(self.architectures, self.default_broker())

    def workload_params_of(self, arm: Arm) -> dict[str, Any]:
        """The workload settings an arm runs with: its variant's on top of the profile's."""
        variant = {k: v for k, v in self.variants.get(arm.variant, {}).items() if k not in VARIANT_SERVER_KEYS}
        return {**self.workload_params, **variant}

    def pgbouncer_binary_of(self, arm: Arm) -> str | None:
        """The PgBouncer an arm behind PgBouncer runs behind: its variant's, else the profile's."""
        return self.variants.get(arm.variant, {}).get("pgbouncer_binary") or self.pgbouncer_binary

    def brokers(self) -> list[str]:
        """The brokers the run needs, the default one first."""
        return list(dict.fromkeys([self.default_broker(), *(arm.broker for arm in self.arms())]))

    def distances(self) -> list[float | None]:
        """The distances the run steps through: [None] without rtt_ms."""
        return list(self.rtt_ms) if isinstance(self.rtt_ms, list) else [self.rtt_ms]

    def redacted(self) -> dict[str, Any]:
        """The resolved profile as written to run.json: URLs without passwords."""
        from bench.urls import redact_url

        data = self.model_dump()
        for key in ENV_OVERRIDES.values():
            if data[key]:
                data[key] = redact_url(data[key])
        return data


BROKERS: tuple[str, ...] = get_args(Profile.model_fields["broker"].annotation)
PROFILE_KEYS = set(Profile.model_fields) - {"name"}


SECTIONS: dict[str, type[BaseModel]] = {
    "load": LoadSettings,
    "workers": WorkerSettings,
    "servers": ServerSettings,
    "topology": TopologySettings,
    "analysis": AnalysisSettings,
}


def field_info(key: str) -> dict[str, Any]:
    """A profile key's section, allowed values, flag and help text."""
    field = Profile.model_fields[key]
    section = next((name for name, cls in SECTIONS.items() if key in cls.model_fields), "")
    extra = field.json_schema_extra
    return {
        **(extra if isinstance(extra, dict) else {}),
        "section": section,
        "help": field.description or "",
        "default": field.get_default(call_default_factory=True),
    }


def default_of(key: str) -> Any:
    """A profile key's built-in default."""
    return Profile.model_fields[key].get_default(call_default_factory=True)


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _check(condition: Any, message: str) -> None:
    if not condition:
        raise BenchError(message)


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


def resolve_profile(
    config: dict[str, Any], name: str | None, overrides: dict[str, Any], environ: dict[str, str] | None = None
) -> Profile:
    """The profile `name` with its bases, the [services] table, the environment and `overrides` (the
    command line's flags) applied."""
    name = name or default_profile_name(config)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def apply(more: dict[str, Any], source) -> None:
        values.update(more)
        sources.update({key: source(key) for key in more})

    apply(_services_table(config), lambda _key: "in [services]")
    for profile_name, table in _profile_chain(config, name):
        apply(table, lambda _key, profile_name=profile_name: f"in profile {profile_name!r}")
    env: Mapping[str, str] = os.environ if environ is None else environ
    apply(
        {key: env[var] for var, key in ENV_OVERRIDES.items() if env.get(var)},
        lambda key: "from " + next(var for var, k in ENV_OVERRIDES.items() if k == key),
    )
    apply({k: v for k, v in overrides.items() if v is not None}, lambda key: f"from {flag_name(key)}")
    try:
        profile = Profile(name=name, **values)
    except ValidationError as exc:
        raise _one_line(exc, values, sources) from None
    return profile.check_together()


def _one_line(exc: ValidationError, values: dict[str, Any], sources: dict[str, str]) -> BenchError:
    """The first value that does not fit: its key, the value, where it came from, what is allowed."""
    error = exc.errors()[0]
    key = str(error["loc"][0])
    if key not in PROFILE_KEYS:
        return BenchError(f"unknown key {key} {sources.get(key, '')}".strip())
    where = f" ({sources[key]})" if key in sources else ""
    return BenchError(f"{key} = {shown(values.get(key))}{where}: must be {field_info(key)['allowed']}")


def shown(value: Any) -> str:
    """A value as bench.toml writes it (true, "10", [1, "max"])."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _services_table(config: dict[str, Any]) -> dict[str, Any]:
    services = config.get("services", {})
    unknown = set(services) - {"database_url", "broker_url", "control_url", "pgbouncer_url"}
    _check(not unknown, f"unknown key(s) in [services]: {', '.join(sorted(unknown))}")
    return dict(services)


def _profile_chain(config: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    """The profile's tables, its furthest base first."""
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
    tables = []
    for profile_name in reversed(chain):
        table = {k: v for k, v in profiles[profile_name].items() if k != "base"}
        unknown = set(table) - PROFILE_KEYS
        _check(
            not unknown,
            f"unknown key(s) in profile {profile_name!r}: {', '.join(sorted(unknown))} "
            f"(`bench run --help` lists the keys)",
        )
        tables.append((profile_name, table))
    return tables
