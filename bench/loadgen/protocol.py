"""What bench and its load generator processes say to each other, named once.

bench -> a load generator process: the spec (LoadgenSpec, JSON in the SPEC_ENV variable), then the
start time on stdin; back: "ready", one CSV row per arrival (ROW_COLUMNS), "done {summary}".
Between a Locust master and its workers (Locust's own messages, under these names): a worker says
HELLO, the master gives it its SHARE, the worker estimates its clock's offset with CLOCK round trips
and says SYNCED, the master relays GO (the start time), the worker sends its ROWS; HALT ends a
schedule early; END tells load generators on other hosts the run is over.
"""

from __future__ import annotations

from typing import Literal, TypedDict

SPEC_ENV = "BENCH_LOADGEN_SPEC"
ROW_COLUMNS = ["task_id", "scheduled_ns", "send_started_ns", "enqueued_ns", "error", "loadgen"]
"""One row per arrival, as the generator writes them; `loadgen` is the process that sent it."""

HELLO, SHARE, CLOCK, SYNCED, GO, HALT, ROWS, END = (
    "bench_hello",
    "bench_share",
    "bench_clock",
    "bench_synced",
    "bench_go",
    "bench_halt",
    "bench_rows",
    "bench_end",
)

PREPARE_AHEAD_S = 0.5
PREPARE_BATCH_MAX = 100
"""Messages are prepared in batches (bench/architectures/producer.py): those of the arrivals due in
the next PREPARE_AHEAD_S, at most PREPARE_BATCH_MAX, and only while the first of them is not yet due.
Here, not in the load generator's __main__, which patches the process with gevent on import."""

Role = Literal["local", "master", "worker", "farewell"]


class LoadgenSpec(TypedDict, total=False):
    """A load generator process's spec. "local" and "master" carry the step's job (architecture,
    worker_spec, plan, users, out_path); "master", "worker" and "farewell" the master's address."""

    role: Role
    architecture: str
    worker_spec: dict
    """bench.architectures.WorkerSpec as a dict: what the producer needs."""
    plan: dict
    """bench.schedule.StepPlan as a dict: the step's schedule."""
    users: int
    out_path: str
    processes: int
    """Load generator processes of this host that send (Locust workers, with a master)."""
    master_host: str
    master_port: int
    external: int
    """Load generators on other hosts the master waits for."""
    ready_timeout_s: float
    index: int
    """A local Locust worker's index (bench loadgen on another host has none)."""
    broker_url: str
    """bench loadgen --broker: the broker as that host reaches it."""
