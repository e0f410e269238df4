"""A capacity model of prefork-nullpool, built from measured parts, with what-ifs.

A prefork process runs one task at a time. A task holds its process for E ms: C connecting (TCP,
authentication, backend start), B in the async_to_sync bridge (a new thread and event loop per call)
and Q for the rest (session, BEGIN/SELECT/COMMIT, closing). With P processes, the processes allow
X_proc = P / E tasks/s. Everything runs on N cores that workers, database and broker share; each task
costs the machine K ms of CPU beyond what it burns with no tasks (I ms per second: bench's sampler, the
system's own services), so the machine allows X_cpu = (1000 N - I) / K. K and I are the slope and the
intercept of the machine's CPU over the task rate across the steps below saturation
(bench/analysis/costs.py), less the load generator's share: a saturation step drains a queue filled
before the workers start, so no sender runs beside what is predicted. With roles pinned to CPU sets,
each set allows (1000 x its cores - its roles' I) / its roles' K, and the fullest set bounds.
min(X_proc, X_cpu) is the asymptotic bound of operational analysis: what P processes cannot pass. The
prediction is what they reach: a drain is a closed network of P tasks taking turns on each CPU set
(demand K there) and waiting with no CPU (the delay E - sum K, at least 0), solved exactly by mean value
analysis (bench/analysis/mva.py). Below the asymptote it is what a busy set costs the others: two
processes on a core kept 75 % busy wait their turns there, so they do not reach P / E (on topology
with 2 processes the asymptote read 27 % above the drains).

E and C come from the lowest rate (unloaded); B, the SCRAM cost and the TLS handshake's cost from the
calibration at the run's start.

What-ifs, and what they assume:
- processes: X_proc grows with P; X_cpu does not (the cores stay the same).
- rtt_ms (database further away): the task body's round trips (ROUND_TRIPS) times the RTT; waiting
  costs no CPU, so only E grows. A run that steps through several distances (`rtt_ms = [0, 2, 5]`) is
  modelled from its first distance and checked against the others (`distance_table`).
- auth trust instead of scram-sha-256 (or back): one PBKDF2 of CPU and 2 round trips less (more).
- ssl: 2 round trips more, plus the handshake's wall time and CPU (client and server) as the
  calibration measured them against the managed server at the run's start; without a calibration
  (a server given by URL), round trips only.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.analysis import core_speed, mva
from bench.analysis.costs import SLOPE, fit_rows, marginal_costs
from bench.analysis.mva import Centre
from bench.analysis.rules import RECIPE
from bench.record.limits import kept_up
from bench.processes import roles_by_cpu_set
from bench.record.results import RunData
from bench.record.stats import ROLE_COLUMNS, Spread

CONNECT_ROUND_TRIPS = {"trust": 2, "scram-sha-256": 4}
"""asyncpg's connect: the TCP handshake 1, startup and AuthenticationOk 1, SCRAM's two exchanges 2."""
TLS_ROUND_TRIPS = 2
"""TLS adds the SSLRequest 1 and the TLS 1.3 handshake 1."""
STATEMENT_ROUND_TRIPS = 4
"""The recipe's transaction on a new connection: BEGIN, prepare (asyncpg prepares every statement, and a
new connection has none cached), execute, COMMIT."""
CLOSE_ROUND_TRIPS = 1
"""asyncpg's close sends Terminate and waits for the server to hang up."""
DRIVER_ROUND_TRIPS = {"asyncpg": (STATEMENT_ROUND_TRIPS, CLOSE_ROUND_TRIPS), "psycopg": (3, 0)}
"""(transaction, close) round trips on a new connection by driver: psycopg 3 sends BEGIN, then the
statement unprepared (Parse, Bind and Execute at once), then COMMIT, and closes without waiting.
Its connect (libpq) takes the same round trips as asyncpg's."""
POOLED_ROUND_TRIPS = 3
"""A pooled connection's task (asyncpg with its statement cache warm, or psycopg): BEGIN, the
statement, COMMIT. All counts were measured through bench's delay proxy at rtt 20 ms (docs/distance-and-pgbouncer.md)."""


def connect_round_trips(auth: str, ssl: bool) -> int:
    return CONNECT_ROUND_TRIPS[auth] + (TLS_ROUND_TRIPS if ssl else 0)


def task_round_trips(auth: str, ssl: bool, driver: str = "asyncpg") -> int:
    """Round trips of one task of the recipe (or of the recipe with another driver): connect, the
    transaction, close."""
    return connect_round_trips(auth, ssl) + sum(DRIVER_ROUND_TRIPS[driver])


@dataclass
class Components:
    processes: int
    cores: int
    exec_ms: float
    connect_ms: float
    bridge_ms: float
    rest_ms: float
    cpu_ms_per_task: float
    """Marginal machine CPU of one task, ms, the load generator's excluded."""
    auth: str
    ssl: bool
    scram_client_ms: float
    tls_connect_ms: float
    """Wall time TLS adds to a connection (0 when not calibrated)."""
    tls_cpu_ms: float
    """CPU, client and server together, that TLS adds to a connection (0 when not calibrated)."""
    role_cpus: dict[str, str] = field(default_factory=dict)
    """The profile's CPU set by role; empty when the roles shared the machine."""
    role_cpu_ms: dict[str, float] = field(default_factory=dict)
    """Marginal CPU ms per task by role (the load generator's excluded)."""
    idle_ms_per_s: float = 0.0
    """What the machine burns with no tasks, ms of CPU per second (the fit's intercept), the load generator's excluded."""
    role_idle_ms_per_s: dict[str, float] = field(default_factory=dict)
    """What each role burns with no tasks, ms of CPU per second."""
    cost_method: str = SLOPE
    """How the CPU costs were found: "slope" over the rates, or the "ratio at one rate" of a single step."""
    tls_client_share: float = 0.5
    """Of tls_cpu_ms, the part the client (the workers) pays."""
    rtt_ms: float = 0.0
    """The delay proxy's round trip when these parts were measured (0 without one)."""
    core_speed_change: dict[str, float] = field(default_factory=dict)
    """By CPU set (bench/probes/core_speed.py label): the probe's unit in the drains / in the rate steps
    the costs come from; above 1 the cores ran slower in the drains. Said beside the prediction, not
    corrected for: converting each step's CPU by the probe's unit over-corrected (a task's CPU followed
    the unit by half to all of its change; the prediction read +18 and +20 % where the unconverted one
    read -14 and -7 %, docs/analysis.md)."""


@dataclass
class Prediction:
    setting: str
    throughput_per_s: float
    process_bound_per_s: float
    cpu_bound_per_s: float
    exec_ms: float
    bound_by: str
    """The asymptote that is lower: "processes" (P / E) or whose CPU."""
    utilization: dict[str, float] = field(default_factory=dict)
    """Each CPU set's busy share at the predicted throughput (mva.solve), by whose CPU it is."""


def components(run: RunData) -> Components | None:
    """The measured parts, or None when no rate step of the recipe kept up. E and C come from the lowest
    rate (unloaded), K from the highest that kept up (the same step when there is one)."""
    rows = sorted(
        (
            r
            for r in run.steps
            if r["architecture"] == RECIPE
            and not r.get("saturation")
            and kept_up(r)
            and not r.get("unsteady")
            and not r.get("disturbed")
            and r.get("machine_cpu_percent") is not None
        ),
        key=lambda r: r["offered_rate_per_s"],
    )
    if not rows or rows[0]["exec_p50_ms"] is None:
        return None
    costs = marginal_costs(run.steps, RECIPE)
    loadgen = costs.get("loadgen")
    machine = costs["machine"]
    roles = {role: cost for role, cost in costs.items() if role not in ("machine", "loadgen")}
    calibration = run.meta.get("calibration", {})
    bridge = calibration.get("async_to_sync_ms", 0.0)
    server = run.meta.get("server", {})
    lowest = rows[0]
    return Components(
        processes=int(run.setting("worker_processes")),
        cores=int(run.meta.get("host", {}).get("cpu_count", 1)),
        exec_ms=lowest["exec_p50_ms"],
        connect_ms=lowest["connect_p50_ms"] or 0.0,
        bridge_ms=bridge,
        rest_ms=lowest["exec_p50_ms"] - (lowest["connect_p50_ms"] or 0.0) - bridge,
        cpu_ms_per_task=machine.ms_per_task - (loadgen.ms_per_task if loadgen else 0.0),
        idle_ms_per_s=max(0.0, machine.idle_ms_per_s - (loadgen.idle_ms_per_s if loadgen else 0.0)),
        role_idle_ms_per_s={role: max(0.0, cost.idle_ms_per_s) for role, cost in roles.items()},
        cost_method=machine.method,
        auth=server.get("auth") or run.setting("auth"),
        ssl=bool(server.get("ssl")),
        scram_client_ms=calibration.get("scram_client_ms", 0.0),
        tls_connect_ms=calibration.get("tls_connect_ms", 0.0),
        tls_cpu_ms=calibration.get("tls_cpu_ms", 0.0),
        role_cpus=dict(run.setting("cpus")),
        role_cpu_ms={role: cost.ms_per_task for role, cost in roles.items()},
        core_speed_change=core_speed.speed_change(run, fit_rows(run.steps, RECIPE), run.saturation_steps(RECIPE)),
        tls_client_share=_client_share(calibration),
        rtt_ms=lowest.get("rtt_ms") or 0.0,
    )


ROLE_WORDS = {
    "workers": "the workers' CPU",
    "db": "the database's CPU",
    "broker": "the broker's CPU",
    "loadgen": "the load generator's CPU",
    "pgbouncer": "PgBouncer's CPU",
}


def _client_share(calibration: dict) -> float:
    client, total = calibration.get("tls_client_cpu_ms"), calibration.get("tls_cpu_ms")
    return min(1.0, max(0.0, client / total)) if client is not None and total else 0.5


def centres(c: Components, extra_ms: dict[str, float]) -> list[Centre]:
    """The CPU sets a task takes turns on, each named by whose CPU it is: the machine's when roles share
    it, else each CPU set with the roles on it (the busiest names it). `extra_ms` adds CPU per task by role."""
    return [centre for centre, _ in _sets(c, extra_ms)]


def _sets(c: Components, extra_ms: dict[str, float]) -> list[tuple[Centre, list[str]]]:
    """`centres`, each with the steps.csv columns of what a task cost it (the roles on it during a drain)."""
    if not c.role_cpus:
        ms = c.cpu_ms_per_task + sum(extra_ms.values())
        return [(Centre("machine CPU", ms, c.cores, c.idle_ms_per_s), ["machine_cpu_ms_per_task"])]
    sets = []
    for cpus, roles in roles_by_cpu_set(c.role_cpus).items():
        roles = [role for role in roles if role != "loadgen"]  # no sender runs beside a drain
        if not roles:
            continue
        cost = {role: c.role_cpu_ms.get(role, 0.0) + extra_ms.get(role, 0.0) for role in roles}
        idle = sum(c.role_idle_ms_per_s.get(role, 0.0) for role in roles)
        centre = Centre(ROLE_WORDS[max(cost, key=lambda role: cost[role])], sum(cost.values()), len(cpus), idle)
        sets.append((centre, [ROLE_COLUMNS[role][1] for role in roles]))
    return sets


def drain_demands(run: RunData, sets: list[tuple[Centre, list[str]]]) -> dict[str, float]:
    """By centre (`_sets`): the CPU one task took there in the recipe's drains, ms, median over the
    drains, beyond what the set burns with no tasks; the model's demand is the rate steps' slope.
    Where the bounding set's differ, the prediction can miss by as much: the model cannot see a task
    costing more (processes taking turns on a core) or less (messages handled in batches) once the queue
    never empties."""
    taken = {}
    for centre, columns in sets:
        per_drain = []
        for row in run.saturation_steps(RECIPE):
            costs = [row.get(column) for column in columns]  # None: a role the recipe has not (PgBouncer)
            rate = row.get("throughput_per_s")
            if any(cost is not None for cost in costs) and rate:
                per_drain.append(sum(cost or 0.0 for cost in costs) - centre.idle_ms_per_s / rate)
        if per_drain:
            taken[centre.name] = statistics.median(per_drain)
    return taken


def cpu_bound(sets: list[Centre]) -> tuple[float, str]:
    """Tasks/s the CPU allows at most, and whose CPU: the set that runs out first."""
    best, words = float("inf"), "machine CPU"
    for centre in sets:
        allows = (
            max(0.0, 1000 * centre.cores - centre.idle_ms_per_s) / centre.demand_ms
            if centre.demand_ms > 0
            else float("inf")
        )
        if allows < best:
            best, words = allows, centre.name
    return best, words


def predict(
    c: Components,
    processes: int | None = None,
    rtt_ms: float | None = None,
    auth: str | None = None,
    ssl: bool | None = None,
) -> Prediction:
    processes = processes or c.processes
    rtt_ms = c.rtt_ms if rtt_ms is None else rtt_ms
    auth, ssl = auth or c.auth, c.ssl if ssl is None else ssl
    exec_ms = c.exec_ms
    extra_ms = {"workers": 0.0, "db": 0.0}  # CPU per task the what-if adds, by role
    if auth != c.auth:  # SCRAM costs the client one PBKDF2; trust does not
        sign = 1 if auth == "scram-sha-256" else -1
        exec_ms += sign * c.scram_client_ms
        extra_ms["workers"] += sign * c.scram_client_ms
    if ssl != c.ssl:  # the handshake, as calibrated: its wall time holds the process, its CPU both ends
        sign = 1 if ssl else -1
        exec_ms += sign * c.tls_connect_ms
        extra_ms["workers"] += sign * c.tls_cpu_ms * c.tls_client_share
        extra_ms["db"] += sign * c.tls_cpu_ms * (1 - c.tls_client_share)
    exec_ms += rtt_ms * task_round_trips(auth, ssl) - c.rtt_ms * task_round_trips(c.auth, c.ssl)
    process_bound = 1000 * processes / exec_ms
    sets = centres(c, extra_ms)
    cpu_allows, cpu_words = cpu_bound(sets)
    # What a task waits with no CPU of its own: its time at the lowest rate less its CPU everywhere.
    delay_ms = max(0.0, exec_ms - sum(centre.demand_ms for centre in sets))
    network = mva.solve(sets, delay_ms, processes)
    setting = f"{processes} processes, rtt {rtt_ms:g} ms, {auth}, ssl {'on' if ssl else 'off'}"
    return Prediction(
        setting,
        min(network.throughput_per_s, process_bound, cpu_allows),
        process_bound,
        cpu_allows,
        exec_ms,
        "processes" if process_bound <= cpu_allows else cpu_words,
        network.utilization,
    )


MODEL_TOLERANCE = 0.20
"""How far from the measured median drain the model's prediction may be and still be called right: a
team plans with it only inside this."""


def measured_saturation(run: RunData) -> float | None:
    """The recipe's median drain rate over its "max" steps."""
    drain = run.saturation(RECIPE)
    return drain.median if drain else None


def check_against_drains(predicted: float, drains: Spread | None) -> dict:
    """The prediction beside the measured drains (their median is `measured_saturation_per_s` in
    model_report): its error from their median, whether that is inside
    MODEL_TOLERANCE, and, where the drains themselves spread by more than that, whether it lies inside
    their range (their median then says little, and the range is what is compared)."""
    if drains is None:
        return {}
    error = predicted / drains.median - 1
    wide = drains.count > 1 and (drains.high - drains.low) / drains.median > MODEL_TOLERANCE
    return {
        "measured_low_per_s": drains.low,
        "measured_high_per_s": drains.high,
        "measured_drains": drains.count,
        "prediction_error": error,
        "within_tolerance": abs(error) <= MODEL_TOLERANCE,
        "drains_spread_wide": wide,
        "inside_measured_range": drains.low <= predicted <= drains.high,
    }


def what_ifs(c: Components) -> list[Prediction]:
    other_auth = "trust" if c.auth == "scram-sha-256" else "scram-sha-256"
    settings: list[dict[str, Any]] = [
        dict(),
        dict(processes=1),
        dict(processes=2 * c.processes),
        dict(processes=4 * c.processes),
        dict(rtt_ms=0.5),
        dict(rtt_ms=2.0),
        dict(rtt_ms=10.0),
        dict(auth=other_auth),
        dict(ssl=not c.ssl),
        dict(processes=4 * c.processes, rtt_ms=2.0),
    ]
    return [predict(c, **s) for s in settings]


def distance_table(run: RunData, c: Components) -> list[dict]:
    """For each distance of the run: the recipe's connect and task time (p50 at its lowest rate) and
    its saturation, as the model predicts them from the first distance and as measured; the round
    trips each measured growth implies beside the model's count."""
    rows = []
    connect_trips, task_trips = connect_round_trips(c.auth, c.ssl), task_round_trips(c.auth, c.ssl)
    for rtt in run.distances:
        if rtt is None:
            continue
        at = run.at_distance(rtt)
        steps = sorted(
            (r for r in at.steps if r["architecture"] == RECIPE and not r.get("saturation") and kept_up(r)),
            key=lambda r: r["offered_rate_per_s"],
        )
        lowest = steps[0] if steps else {}
        extra = rtt - c.rtt_ms
        predicted = predict(c, rtt_ms=rtt)
        measured = measured_saturation(at)
        row: dict[str, Any] = {
            "rtt_ms": rtt,
            "connect_round_trips": connect_trips,
            "task_round_trips": task_trips,
            "connect_p50_ms": lowest.get("connect_p50_ms"),
            "predicted_connect_p50_ms": c.connect_ms + extra * connect_trips,
            "exec_p50_ms": lowest.get("exec_p50_ms"),
            "predicted_exec_p50_ms": predicted.exec_ms,
            "measured_saturation_per_s": measured,
            "predicted_saturation_per_s": predicted.throughput_per_s,
            "bound_by": predicted.bound_by,
        }
        for what in ("connect", "exec"):
            value = row[f"{what}_p50_ms"]
            base = c.connect_ms if what == "connect" else c.exec_ms
            row[f"{what}_round_trips_measured"] = (value - base) / extra if value is not None and extra else None
        row["saturation_error"] = measured / predicted.throughput_per_s - 1 if measured else None
        rows.append(row)
    return rows


def model_report(run: RunData) -> dict | None:
    """The model of the recipe from the run's first distance (the only one without rtt_ms), its
    what-ifs and, where the run stepped through distances, the check against each."""
    base_run = run.at_distance(run.distances[0])
    c = components(base_run)
    if c is None:
        return None
    base = predict(c)
    drains = base_run.saturation(RECIPE)
    sets = _sets(c, {})
    return {
        "components": asdict(c),
        "demand_ms": {centre.name: centre.demand_ms for centre, _ in sets},
        "drain_demand_ms": drain_demands(base_run, sets),
        "predicted_saturation_per_s": base.throughput_per_s,
        "measured_saturation_per_s": drains.median if drains else None,
        **check_against_drains(base.throughput_per_s, drains),
        "bound_by": base.bound_by,
        "what_ifs": [asdict(p) for p in what_ifs(c)],
        "distances": distance_table(run, c) if len(run.distances) > 1 else [],
    }
