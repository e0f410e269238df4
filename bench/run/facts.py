"""What run.json says about where a run ran, besides versions and host (bench/run/metadata.py): the
caveats that could distort its figures, the server's facts, the calibration at its start, and the
pgbench cross-check at its end."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from bench.run import metadata
from bench.services.pgbouncer import pgbouncer_version
from bench.run.plan import pgbouncer_arms
from bench.settings.config import Profile
from bench.observer import RunObserver
from bench.probes.calibration import calibrate, tls_costs
from bench.probes.pgbench_check import pgbench_connect_cost
from bench.probes.process_meter import ProcessMeter
from bench.services import Services
from bench.services.postgres import DATABASE

log = logging.getLogger(__name__)

CAVEATS = [
    "The load generator, the workers, the broker and the database share this machine's {cores} cores: at "
    "high rates they compete for CPU, so a limit seen here may be the machine's, not the architecture's. "
    "machine_cpu_percent near {cores}00 % means the machine was the limit; cpu_percent (workers), "
    "db_, broker_, loadgen_ and bench_cpu_percent say who used it.",
    "connections_mean/peak come from pg_stat_activity sampled every {interval_ms:g} ms; connections "
    "shorter than that (NullPool's) can fall between samples, so the peak is a lower bound. "
    "sessions_opened is exact (pg_stat_database.sessions) and includes nothing of bench's own.",
    "Latency is measured from each task's scheduled arrival (open loop), so it includes how late the load "
    "generator started each send (send_late) and the send itself (send); a large send_late means the "
    "generator, not the workers, fell behind.",
    "A virtual machine's cores change speed with the host's other tenants (here a fixed computation took 1.5 "
    "to 2.6 ms from one second to the next): CPU per task is in the speed of its step's cores. core_unit_ms "
    "says how fast each step's cores ran (the CPU time of a fixed PBKDF2, higher is slower), and the advice "
    "says where the drains ran on faster or slower cores than the rate steps the capacity model is built from.",
]
SESSION_POOLING_CAVEAT = (
    "Your PgBouncer (pgbouncer_url) gave two clients, one after the other, two server connections: it pools "
    "by session (or is not a PgBouncer), so each worker's connection holds a server connection for as long "
    "as it is open; the PgBouncer arms are measured for transaction pooling."
)
LOOPBACK_CAVEAT = "All servers are on loopback: connect times exclude network round trips a real deployment pays."
DISTANCE_CAVEAT = (
    "The database's distance (rtt_ms) is made by bench's delay proxy: a fixed delay per message, "
    "without the jitter, loss and bandwidth limits of a real network; the proxy's CPU "
    "(proxy_cpu_percent) is spent on this machine."
)


REPO_DIR = Path(__file__).resolve().parents[2]


def code_version() -> dict:
    """The commit bench runs from (and whether its work tree had changes): the first fact run.json
    holds, before any server starts."""
    return {"git": metadata.git_commit(REPO_DIR)}


def database_meter(services: Services) -> ProcessMeter:
    """CPU of the managed PostgreSQL's process tree, its exited backends included."""
    postgres = services.postgres
    assert postgres is not None, "only bench's own PostgreSQL is metered"
    return ProcessMeter(lambda: [pid] if (pid := postgres.pid) is not None else [])


def environment(profile: Profile, services: Services, server_stats, sample_interval_s: float) -> dict:
    """run.json's versions, host, caveats, server facts and calibration."""
    versions = metadata.package_versions()
    versions["postgresql"] = server_stats.server_version
    for kind, url in services.broker_urls.items():
        versions[kind] = metadata.broker_version(url)
    given = services.given_pgbouncer
    if services.pgbouncer_binary:  # an arm of the run stands behind PgBouncer
        versions["pgbouncer"] = pgbouncer_version(services.pgbouncer_binary)
        versions["pgbouncer_binary"] = services.pgbouncer_binary
    elif given:
        versions["pgbouncer"] = given.version
    host = metadata.host_facts()
    caveats = [c.format(cores=host["cpu_count"], interval_ms=sample_interval_s * 1000) for c in CAVEATS]
    caveats.append(LOOPBACK_CAVEAT if profile.distances() == [None] else DISTANCE_CAVEAT)
    if given and given.pooling != "transaction":
        caveats.append(SESSION_POOLING_CAVEAT)
    return {
        "versions": versions,
        # Each PgBouncer arm's version and binary: a variant may run behind another than the run's.
        "pgbouncer_arms": pgbouncer_arms(profile, given) if services.pgbouncer_binary or given else {},
        "pgbouncer_given": given.facts() if given else None,
        "host": host,
        "caveats": caveats,
        "server": {
            "max_connections": server_stats.max_connections,
            "managed": services.postgres is not None,
            "auth": services.postgres.auth if services.postgres else None,
            "ssl": server_stats.ssl_in_use,
            "session_counts": server_stats.has_session_counts,
        },
        "calibration": _calibrate(profile, services),
    }


def _calibrate(profile: Profile, services: Services) -> dict[str, float]:
    costs = calibrate()
    if profile.calibrate_tls and services.postgres and services.postgres.tls_capable:
        costs.update(tls_costs(services.postgres.admin_url(DATABASE), database_meter(services)))
        log.info(f"calibration: {costs}")
    return costs


def pgbench_check(profile: Profile, services: Services, workload, observer: RunObserver) -> dict | None:
    """pgbench -C on the managed server at each rate of the run's rate steps, after the architectures
    have run: the slope of the server's CPU over them is its marginal database CPU per transaction
    (at two rates of 8 s each, two topology runs read 6.69 and 5.24 ms: too few transactions)."""
    rates = sorted({r for r in profile.rates if not isinstance(r, str)})  # the rate steps, not "max" or "burst"
    script = workload.pgbench_script()
    if not (services.postgres and rates and script):
        log.info("pgbench check skipped: it needs the managed server, a rate step and a workload script")
        return None
    observer.notice(
        f"pgbench -C at {', '.join(f'{r:g}/s' for r in rates)} for {profile.step_seconds:g} s each (cross-check)"
    )
    cost = pgbench_connect_cost(services.database_url, database_meter(services), script, rates, profile.step_seconds)
    log.info(f"pgbench check: {cost}")
    return {"pgbench": asdict(cost)}
