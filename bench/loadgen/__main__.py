"""The load generator process: Locust, as a library and headless, enqueueing one step's arrivals.

Several Locust users share one arrival schedule. Each takes the next arrival, sleeps until its
absolute time, and enqueues it without waiting for the task to run. A user that is late sends at
once (late arrivals are not dropped and do not push later ones back), so the offered load holds;
how late each send started (send_late = send started - scheduled, what pgbench -R calls schedule lag)
and how long the send itself took (send = accepted - send started) are recorded apart.

Roles (`role` in the spec):
- "local": one process, Locust's local runner, the whole schedule;
- "master" and "worker": Locust's own distributed mode, for `loadgen_processes` > 1. The master
  sends no task: it gives worker i of N the arrivals i, i+N, i+2N... (`bench.schedule.share`),
  spawns the users on the workers, relays the start time, and gathers every worker's rows.

Protocol with bench (local process or master): prints "ready" once its users are spawned and
connected, reads the start time (CLOCK_MONOTONIC ns) on stdin, writes one CSV row per arrival, then
prints "done {json summary}". SIGTERM after the start ends the schedule early, still writing the
rows of what was sent.
"""

from gevent import monkey

monkey.patch_all()

import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust import User, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

from bench.architectures import WorkerSpec, get_architecture  # noqa: E402
from bench.loadgen import ROW_COLUMNS, SPEC_ENV  # noqa: E402
from bench.schedule import StepPlan, share  # noqa: E402

READY_TIMEOUT_S = 60
HALT_GRACE_S = 5
"""After a halt, how long the master waits for the workers' rows."""


class Arrivals:
    """This process's share of the step's schedule, handed out in order to whichever user asks next.
    Users wait for the start time; the share is finished once handed out and every send is back."""

    def __init__(self, plan: StepPlan) -> None:
        self.plan = plan
        self.offsets = plan.offsets_ns()
        self.index = 0
        """Which load generator process this is (0 for the only one)."""
        self.seqs = share(len(self.offsets), 0, 1)
        self.next = 0
        self.in_flight = 0
        self.start_ns = 0
        self.started = Event()
        self.rows: list[tuple] = []
        self.finished = Event()
        self.halted = False

    def assign(self, index: int, count: int) -> None:
        self.index, self.seqs = index, share(len(self.offsets), index, count)

    def go(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.started.set()

    def halt(self) -> None:
        """Send nothing more (bench asks on SIGTERM when a server died): the rows so far are written."""
        self.halted = True
        self.started.set()
        self.finished.set()

    def take(self) -> tuple[str, int] | None:
        self.started.wait()
        if self.halted or self.next >= len(self.seqs):
            if self.in_flight == 0:
                self.finished.set()
            return None
        seq = self.seqs[self.next]
        self.next += 1
        self.in_flight += 1
        return self.plan.task_id(seq), self.start_ns + self.offsets[seq]

    def sent(self, row: tuple) -> None:
        self.rows.append((*row, self.index))
        self.in_flight -= 1
        if self.in_flight == 0 and self.next >= len(self.seqs):
            self.finished.set()


def make_user_class(arrivals: Arrivals | None, send, name: str) -> type[User]:
    class Enqueuer(User):
        wait_time = constant(0)

        @task
        def enqueue(self) -> None:
            item = arrivals.take()
            if item is None:
                raise StopUser()
            task_id, scheduled_ns = item
            delay_ns = scheduled_ns - time.monotonic_ns()
            if delay_ns > 0:
                gevent.sleep(delay_ns / 1e9)
            send_started_ns = time.monotonic_ns()
            error = ""
            try:
                send(task_id, scheduled_ns)
            except Exception as exc:  # an enqueue failure is a measurement, not a crash
                error = type(exc).__name__
            enqueued_ns = time.monotonic_ns() if not error else 0
            arrivals.sent((task_id, scheduled_ns, send_started_ns, enqueued_ns, error))
            self.environment.events.request.fire(
                request_type="enqueue", name=name, response_time=(time.monotonic_ns() - send_started_ns) / 1e6,
                response_length=0, exception=error or None, context={})

    return Enqueuer


def _producer(spec: dict):
    return get_architecture(spec["architecture"]).make_producer(WorkerSpec(**spec["worker_spec"]))


def run_local(spec: dict) -> int:
    arrivals = Arrivals(StepPlan(**spec["plan"]))
    env = Environment(user_classes=[make_user_class(arrivals, _producer(spec), spec["architecture"])])
    runner = env.create_local_runner()
    runner.start(spec["users"], spawn_rate=10_000)
    print("ready", flush=True)
    arrivals.go(int(sys.stdin.readline()))
    gevent.signal_handler(signal.SIGTERM, arrivals.halt)
    arrivals.finished.wait()
    runner.quit()
    write_rows(spec["out_path"], arrivals.rows)
    print("done " + json.dumps(_summary(env)), flush=True)
    return 0


def run_master(spec: dict) -> int:
    count = spec["processes"]
    env = Environment(user_classes=[make_user_class(None, None, spec["architecture"])])
    runner = env.create_master_runner(master_bind_host="127.0.0.1", master_bind_port=spec["master_port"])
    rows: dict[int, list] = {}
    all_rows = Event()

    def on_rows(environment, msg, **_kw) -> None:
        rows[msg.data["index"]] = [tuple(row) for row in msg.data["rows"]]
        if len(rows) == count:
            all_rows.set()

    runner.register_message("bench_rows", on_rows)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(runner.clients.ready) < count:
        if time.monotonic() > deadline:
            print(f"only {len(runner.clients.ready)} of {count} load generator workers connected", file=sys.stderr)
            return 1
        gevent.sleep(0.05)
    for index, client_id in enumerate(sorted(runner.clients)):
        runner.send_message("bench_share", {"index": index, "count": count}, client_id)
    # Returns once the workers report their users; Locust warns above 100 users/s per worker.
    runner.start(spec["users"] * count, spawn_rate=100 * count)
    print("ready", flush=True)
    start_ns = int(sys.stdin.readline())
    runner.send_message("bench_go", {"start_ns": start_ns})

    def halt() -> None:
        runner.send_message("bench_halt")
        gevent.spawn_later(HALT_GRACE_S, all_rows.set)

    gevent.signal_handler(signal.SIGTERM, halt)
    all_rows.wait()
    write_rows(spec["out_path"], [row for index in sorted(rows) for row in rows[index]])
    # "done" before the workers are told to quit, so bench never sees them gone before it.
    print("done " + json.dumps({"processes": count, "reported": sorted(rows)}), flush=True)
    runner.quit()
    return 0


def run_worker(spec: dict) -> int:
    arrivals = Arrivals(StepPlan(**spec["plan"]))
    env = Environment(user_classes=[make_user_class(arrivals, _producer(spec), spec["architecture"])])
    runner = env.create_worker_runner(master_host="127.0.0.1", master_port=spec["master_port"])
    runner.register_message("bench_share", lambda environment, msg, **_kw: arrivals.assign(**msg.data))
    runner.register_message("bench_go", lambda environment, msg, **_kw: arrivals.go(msg.data["start_ns"]))
    runner.register_message("bench_halt", lambda environment, msg, **_kw: arrivals.halt())
    arrivals.finished.wait()
    runner.send_message("bench_rows", {"index": arrivals.index, "rows": arrivals.rows})
    runner.greenlet.join()  # until the master says quit
    return 0


def _summary(env: Environment) -> dict:
    total = env.stats.total
    return {"requests": total.num_requests, "failures": total.num_failures,
            "enqueue_p50_ms": total.get_response_time_percentile(0.5),
            "enqueue_p99_ms": total.get_response_time_percentile(0.99)}


def write_rows(path: str, rows: list[tuple]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROW_COLUMNS)
        writer.writerows(sorted(rows, key=lambda r: r[1]))


ROLES = {"local": run_local, "master": run_master, "worker": run_worker}

if __name__ == "__main__":
    spec = json.loads(os.environ[SPEC_ENV])
    raise SystemExit(ROLES[spec.get("role", "local")](spec))
