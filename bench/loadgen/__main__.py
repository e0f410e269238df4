"""The load generator process: Locust, as a library and headless, enqueueing one step's arrivals.

Several Locust users share one arrival schedule; one of them leads at a time: it takes the next
arrival, sleeps until its absolute time and enqueues it without waiting for the task to run, then
the next. A send that blocks (a broker that stops reading) hands the lead to another user, so the
schedule goes on. A user that is late sends at once (late arrivals are not dropped and do not push
later ones back), so the offered load holds;
how late each send started (send_late = send started - scheduled, what pgbench -R calls schedule lag)
and how long the send itself took (send = accepted - send started) are recorded apart.

Roles (`role` in the spec):
- "local": one process, Locust's local runner, the whole schedule;
- "master" and "worker": Locust's own distributed mode, for several load generator processes
  (`loadgen_processes` > 1, or load generators on other hosts). The master sends no task: each
  worker says hello (its local index, or none for `bench loadgen` on another host), the master
  gives worker i of N the step's job and the arrivals i, i+N, i+2N... (`bench.schedule.share`),
  each worker estimates its clock's offset to the master's (bench's host) with round trips over
  the same connection, the master spawns the users, relays the start time and gathers every
  worker's rows. A worker's times are in the master's clock: bench's;
- "farewell": a master that only tells the load generators on other hosts that the run is over.

Protocol with bench (local process or master): prints "ready" once its users are spawned and
connected, reads the start time (CLOCK_MONOTONIC ns) on stdin, writes one CSV row per arrival, then
prints "done {json summary}". SIGTERM after the start ends the schedule early, still writing the
rows of what was sent.
"""

from gevent import monkey

monkey.patch_all()

import csv  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402

import gevent  # noqa: E402
from gevent.event import AsyncResult, Event  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402
from locust import User, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402

from bench.architectures import WorkerSpec, get_architecture  # noqa: E402
from bench.architectures.producer import Producer  # noqa: E402
from bench.clock import estimate_offset, monotonic_ns  # noqa: E402
from bench.loadgen import NO_MASTER_EXIT, READY_TIMEOUT_S, RUN_OVER_EXIT, protocol  # noqa: E402
from bench.loadgen.protocol import PREPARE_AHEAD_S, PREPARE_BATCH_MAX, ROW_COLUMNS, SPEC_ENV, LoadgenSpec  # noqa: E402
from bench.schedule import StepPlan, share  # noqa: E402

HALT_GRACE_S = 5
"""After a halt, how long the master waits for the workers' rows."""
FAREWELL_WAIT_S = 10
"""How long a farewell master waits for the load generators on other hosts to connect."""
CLOCK_REPLY_TIMEOUT_S = 5
HUB_BLOCK_MAX_S = 0.05
"""The longest a user waits for its arrival's time with the hub blocked (see _sleep_until)."""
_blocking_sleep = monkey.get_original("time", "sleep")


class Arrivals:
    """This process's share of the step's schedule, handed out in order to whichever user asks next.
    Users wait for the start time; the share is finished once handed out and every send is back.
    Times are in the master's clock: this process's plus `offset_ns` (0 for the master itself).
    Each arrival comes with its message, made by `prepare(task_id, scheduled_ns)` ahead of its time."""

    def __init__(self, plan: StepPlan, prepare, index: int = 0, count: int = 1, offset_ns: int = 0) -> None:
        self.plan = plan
        self.prepare = prepare
        self.prepared: deque[tuple[str, int, object]] = deque()
        self.offsets = plan.offsets_ns()
        self.index = index
        """Which load generator process this is (0 for the only one)."""
        self.seqs = share(len(self.offsets), index, count)
        self.offset_ns = offset_ns
        self.next = 0
        self.in_flight = 0
        self.start_ns = 0
        self.started = Event()
        self.rows: list[tuple] = []
        self.finished = Event()
        self.halted = False
        self.cpu_at_start = self.wall_at_start = 0.0
        self.cpu_s = self.wall_s = 0.0
        self.lead = Semaphore()
        """Held by the user that takes and sends the arrivals; the others wait for it."""
        self.hub_ran_ns = 0
        """When the leading user last let gevent's hub run."""

    def now_ns(self) -> int:
        return monotonic_ns() + self.offset_ns

    def go(self, start_ns: int) -> None:
        # Locust's and gevent's objects from start-up to the permanent generation: otherwise a collection
        # mid-schedule walks them all (one of generation 1 took 20 ms of a 2000-task schedule).
        gc.collect()
        gc.freeze()
        self.start_ns = start_ns
        self.cpu_at_start, self.wall_at_start = time.process_time(), time.monotonic()
        self.started.set()

    def halt(self) -> None:
        """Send nothing more (bench asks on SIGTERM when a server died): the rows so far are written."""
        self.halted = True
        self.started.set()
        self._finish()

    def take(self) -> tuple[str, int, object] | None:
        """The next arrival: its task id, its time and its message (or the exception preparing it raised)."""
        self.started.wait()
        if self.halted or self.next >= len(self.seqs):
            if self.in_flight == 0:
                self._finish()
            return None
        if not self.prepared:
            self._prepare_ahead()
        self.next += 1
        self.in_flight += 1
        return self.prepared.popleft()

    def _prepare_ahead(self) -> None:
        """Prepare the next arrival's message and those due soon after it, while there is time."""
        first = self.start_ns + self.offsets[self.seqs[self.next]]
        for k in range(self.next, min(len(self.seqs), self.next + PREPARE_BATCH_MAX)):
            seq = self.seqs[k]
            scheduled_ns = self.start_ns + self.offsets[seq]
            if k > self.next and (scheduled_ns - first > PREPARE_AHEAD_S * 1e9 or self.now_ns() >= first):
                break
            task_id = self.plan.task_id(seq)
            try:
                message = self.prepare(task_id, scheduled_ns)
            except Exception as exc:  # a failed enqueue of that task, when its time comes
                message = exc
            self.prepared.append((task_id, scheduled_ns, message))

    def sent(self, row: tuple) -> None:
        self.rows.append((*row, self.index))
        self.in_flight -= 1
        if self.in_flight == 0 and self.next >= len(self.seqs):
            self._finish()

    def _finish(self) -> None:
        if not self.finished.is_set():
            # What this process spent on the schedule, from the start time on: the CPU that
            # bench cannot meter itself when the process runs on another host.
            self.cpu_s, self.wall_s = time.process_time() - self.cpu_at_start, time.monotonic() - self.wall_at_start
            self.finished.set()


class Job:
    """What the users of this process work on: one step's arrivals and the producer that enqueues
    them, given at start (local role) or by the master (worker role)."""

    def __init__(self) -> None:
        self.arrivals: Arrivals | None = None
        self.producer: Producer | None = None
        self.assigned = Event()

    def assign(self, arrivals: Arrivals, producer: Producer) -> None:
        self.arrivals, self.producer = arrivals, producer
        self.assigned.set()

    def parts(self) -> tuple[Arrivals, Producer]:
        """What `assign` gave: asked for only once `assigned` is set."""
        assert self.arrivals is not None and self.producer is not None, "the job is assigned first"
        return self.arrivals, self.producer


def make_user_class(job: Job) -> type[User]:
    class Enqueuer(User):
        wait_time = constant(0)

        @task
        def enqueue(self) -> None:
            # One task call sends arrival after arrival until the share is handed out: Locust's task
            # loop and request statistics around every send cost more CPU than the send itself
            # (0.21 against 0.09 ms a task at 200/s with a send that does nothing), CPU the load
            # generator takes from the workers it measures. The rows are the statistics.
            job.assigned.wait()
            arrivals, producer = job.parts()
            while lead(producer, arrivals):
                pass
            raise StopUser()

    return Enqueuer


def lead(producer: Producer, arrivals: Arrivals) -> bool:
    """Once this user holds the lead, send the arrivals in order while the sends return without
    blocking; True if a send blocked and gave the lead away (this user waits for it again), False once
    the share is handed out. The lead passes only then, not at every arrival: waking another user for
    each (as when users took turns) cost 0.025 ms of CPU a task at 200/s on a 2-core VM."""
    arrivals.lead.acquire()
    loop = gevent.get_hub().loop
    while (item := arrivals.take()) is not None:
        task_id, scheduled_ns, message = item
        _sleep_until(arrivals, scheduled_ns)
        # Runs only if the send yields to the hub, i.e. blocks: then the next user leads meanwhile.
        handoff = loop.run_callback(arrivals.lead.release)
        send_one(producer, arrivals, task_id, scheduled_ns, message)
        if not handoff.pending:
            return True
        handoff.stop()
    arrivals.lead.release()
    return False


def send_one(producer: Producer, arrivals: Arrivals, task_id: str, scheduled_ns: int, message) -> None:
    """Send the arrival's message now; its row records when it was due, when the send started and
    when it was accepted."""
    send_started_ns = arrivals.now_ns()
    error = ""
    try:
        if isinstance(message, Exception):
            raise message
        producer.deliver(message, task_id)
    except Exception as exc:  # an enqueue failure is a measurement, not a crash
        error = type(exc).__name__
    enqueued_ns = arrivals.now_ns() if not error else 0
    arrivals.sent((task_id, scheduled_ns, send_started_ns, enqueued_ns, error))


def _sleep_until(arrivals: Arrivals, scheduled_ns: int) -> None:
    """The leading user sleeps without gevent's hub for the last HUB_BLOCK_MAX_S (nothing else of this
    process is due before its arrival): a gevent wake-up costs 0.14 ms of CPU on a 2-core VM, a plain
    sleep's 0.06 (/proc/self/schedstat), and the load generator wakes once a task. Longer waits leave
    the hub free (Locust's heartbeats, the master's messages, SIGTERM) until then, and the hub runs at
    least once every HUB_BLOCK_MAX_S however dense the schedule: there, `gevent.idle()`, which returns
    once the hub has polled, where `gevent.sleep(0)` only runs its callbacks: with arrivals 25 ms apart
    a SIGTERM then waited 0.7-2 s for a poll (the warm-up's halt, ~0.9 s of every rate step)."""
    now_ns = arrivals.now_ns()
    delay_s = (scheduled_ns - now_ns) / 1e9
    if delay_s > HUB_BLOCK_MAX_S or now_ns - arrivals.hub_ran_ns > HUB_BLOCK_MAX_S * 1e9:
        if delay_s > HUB_BLOCK_MAX_S:
            gevent.sleep(delay_s - HUB_BLOCK_MAX_S)
        else:
            gevent.idle()
        arrivals.hub_ran_ns = now_ns = arrivals.now_ns()
        delay_s = (scheduled_ns - now_ns) / 1e9
    if delay_s > 0:
        _blocking_sleep(delay_s)


def settled_rows(job: Job) -> list[tuple]:
    """The share's rows once the producer has read the broker's last replies: a push the broker
    refused after it was written is an enqueue failure (bench/architectures/list_push.py)."""
    arrivals, producer = job.parts()
    refused = producer.settle()
    return [(*row[:3], 0, refused[row[0]], *row[5:]) if row[0] in refused else row for row in arrivals.rows]


def _producer(architecture: str, worker_spec: dict, broker_url: str | None = None) -> Producer:
    values = {**worker_spec, "broker_url": broker_url or worker_spec["broker_url"]}
    return get_architecture(architecture).make_producer(WorkerSpec(**values))


def run_local(spec: LoadgenSpec) -> int:
    job = Job()
    producer = _producer(spec["architecture"], spec["worker_spec"])
    arrivals = Arrivals(StepPlan(**spec["plan"]), producer.prepare)
    job.assign(arrivals, producer)
    env = Environment(user_classes=[make_user_class(job)])
    runner = env.create_local_runner()
    runner.start(spec["users"], spawn_rate=10_000)
    print("ready", flush=True)
    arrivals.go(int(sys.stdin.readline()))
    gevent.signal_handler(signal.SIGTERM, arrivals.halt)
    arrivals.finished.wait()
    runner.quit()
    rows = settled_rows(job)
    write_rows(spec["out_path"], rows)
    print("done " + json.dumps({**_summary(rows), "cpu_s": arrivals.cpu_s, "wall_s": arrivals.wall_s}), flush=True)
    return 0


class _Gathering:
    """The master's view of its workers: hellos, clock estimates, rows, by Locust client id."""

    def __init__(self, runner, expected: int) -> None:
        self.runner, self.expected = runner, expected
        self.hellos: dict[str, dict] = {}
        self.index: dict[str, int] = {}
        self.synced: dict[int, dict] = {}
        self.rows: dict[int, list] = {}
        self.all_rows = Event()
        runner.register_message(protocol.HELLO, self._on_hello)
        runner.register_message(protocol.CLOCK, self._on_clock)
        runner.register_message(
            protocol.SYNCED, lambda environment, msg, **_kw: self.synced.update({msg.data["index"]: msg.data})
        )
        runner.register_message(protocol.ROWS, self._on_rows)

    def _on_hello(self, environment, msg, **_kw) -> None:
        self.hellos[msg.node_id] = msg.data

    def _on_clock(self, environment, msg, **_kw) -> None:
        """One round trip of a worker's clock estimate: its probe back, with this clock's time."""
        self.runner.send_message(
            protocol.CLOCK, {"probe": msg.data["probe"], "master_ns": time.monotonic_ns()}, msg.node_id
        )

    def _on_rows(self, environment, msg, **_kw) -> None:
        self.rows[msg.data["index"]] = [tuple(row) for row in msg.data["rows"]]
        self.synced[msg.data["index"]].update(cpu_s=msg.data["cpu_s"], wall_s=msg.data["wall_s"])
        if len(self.rows) == self.expected:
            self.all_rows.set()

    def wait(self, what, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not what():
            if time.monotonic() > deadline:
                return False
            gevent.sleep(0.05)
        return True

    def wait_hellos(self, timeout_s: float) -> bool:
        def all_here() -> bool:
            ready = {worker.id for worker in self.runner.clients.ready}
            return len([c for c in self.hellos if c in ready]) >= self.expected

        return self.wait(all_here, timeout_s)

    def number(self, local: int) -> None:
        """Local workers keep the index bench gave them; the others follow, in the order they came."""
        remote = [c for c, hello in self.hellos.items() if hello.get("local_index") is None]
        self.index = {
            c: hello["local_index"] for c, hello in self.hellos.items() if hello.get("local_index") is not None
        }
        self.index.update({c: local + k for k, c in enumerate(remote)})


def _master(spec: LoadgenSpec, expected: int) -> tuple:
    """A Locust master on the spec's address (it sends nothing itself), and its view of `expected` workers."""
    env = Environment(user_classes=[make_user_class(Job())])
    runner = env.create_master_runner(master_bind_host=spec["master_host"], master_bind_port=spec["master_port"])
    return runner, _Gathering(runner, expected)


def run_master(spec: LoadgenSpec) -> int:
    count = spec["processes"] + spec.get("external", 0)
    runner, gathering = _master(spec, count)
    if not gathering.wait_hellos(spec.get("ready_timeout_s", READY_TIMEOUT_S)):
        print(
            f"only {len(gathering.hellos)} of {count} load generator workers connected "
            f"({spec.get('external', 0)} expected from other hosts at {spec['master_host']}:{spec['master_port']})",
            file=sys.stderr,
        )
        runner.quit()
        return 1
    gathering.number(spec["processes"])
    # What a producer needs and no more: the job may travel to another host, and Locust's
    # master/worker connection has no authentication; the broker is what the worker sends to.
    job = {
        "architecture": spec["architecture"],
        "plan": spec["plan"],
        "worker_spec": {**spec["worker_spec"], "database_url": "", "control_url": None, "pgbouncer_url": None},
    }
    for client_id, index in gathering.index.items():
        runner.send_message(protocol.SHARE, {"index": index, "count": count, "job": job}, client_id)
    if not gathering.wait(lambda: len(gathering.synced) == count, READY_TIMEOUT_S):
        print(f"only {len(gathering.synced)} of {count} load generator workers took their share", file=sys.stderr)
        runner.quit()
        return 1
    # Returns once the workers report their users; Locust warns above 100 users/s per worker.
    runner.start(spec["users"] * count, spawn_rate=100 * count)
    print("ready", flush=True)
    start_ns = int(sys.stdin.readline())
    runner.send_message(protocol.GO, {"start_ns": start_ns})

    def halt() -> None:
        runner.send_message(protocol.HALT)
        gevent.spawn_later(HALT_GRACE_S, gathering.all_rows.set)

    gevent.signal_handler(signal.SIGTERM, halt)
    gathering.all_rows.wait()
    write_rows(spec["out_path"], [row for index in sorted(gathering.rows) for row in gathering.rows[index]])
    senders = {
        index: {
            **gathering.synced[index],
            "host": hello["host"],
            "address": hello["address"],
            "pid": hello["pid"],
            "remote": hello.get("local_index") is None,
        }
        for client_id, hello in gathering.hellos.items()
        if (index := gathering.index[client_id]) in gathering.rows
    }
    # "done" before the workers are told to quit, so bench never sees them gone before it.
    print(
        "done " + json.dumps({"processes": count, "reported": sorted(gathering.rows), "senders": senders}), flush=True
    )
    runner.quit()
    return 0


def run_farewell(spec: LoadgenSpec) -> int:
    """Tell the load generators on other hosts that the run is over (they wait for the next step's
    master otherwise, until Locust gives up on connecting)."""
    runner, gathering = _master(spec, spec["external"])
    gathering.wait_hellos(FAREWELL_WAIT_S)
    for client_id in gathering.hellos:
        runner.send_message(protocol.END, None, client_id)
    gevent.sleep(0.5)
    print(f"told {len(gathering.hellos)} of {spec['external']} load generator(s) the run is over", flush=True)
    runner.quit()
    return 0


def run_worker(spec: LoadgenSpec) -> int:
    """A Locust worker: a local one (bench gave it `index`) or `bench loadgen` on another host."""
    job = Job()
    env = Environment(user_classes=[make_user_class(job)])
    try:
        runner = env.create_worker_runner(master_host=spec["master_host"], master_port=spec["master_port"])
    except ConnectionError:
        print(f"no load generator master at {spec['master_host']}:{spec['master_port']}", file=sys.stderr)
        return NO_MASTER_EXIT
    replies: dict[int, AsyncResult] = {}
    ended = Event()

    def read_master_clock() -> int:
        probe = len(replies)
        replies[probe] = AsyncResult()
        runner.send_message(protocol.CLOCK, {"probe": probe})
        return replies[probe].get(timeout=CLOCK_REPLY_TIMEOUT_S)

    def on_share(environment, msg, **_kw) -> None:
        work = msg.data["job"]
        producer = _producer(work["architecture"], work["worker_spec"], spec.get("broker_url"))
        offset = estimate_offset(read_master_clock)
        arrivals = Arrivals(
            StepPlan(**work["plan"]), producer.prepare, msg.data["index"], msg.data["count"], offset.offset_ns
        )
        job.assign(arrivals, producer)
        runner.send_message(
            protocol.SYNCED,
            {
                "index": arrivals.index,
                "clock_offset_ns": offset.offset_ns,
                "clock_uncertainty_ns": offset.uncertainty_ns,
            },
        )

    def on_end(environment, msg, **_kw) -> None:
        ended.set()

    runner.register_message(protocol.SHARE, on_share, concurrent=True)
    runner.register_message(
        protocol.CLOCK, lambda environment, msg, **_kw: replies[msg.data["probe"]].set(msg.data["master_ns"])
    )
    runner.register_message(protocol.GO, lambda environment, msg, **_kw: job.parts()[0].go(msg.data["start_ns"]))
    runner.register_message(protocol.HALT, lambda environment, msg, **_kw: job.parts()[0].halt())
    runner.register_message(protocol.END, on_end)
    runner.send_message(
        protocol.HELLO,
        {
            "local_index": spec.get("index"),
            "host": socket.gethostname(),
            "address": _address_towards(spec["master_host"], spec["master_port"]),
            "pid": os.getpid(),
        },
    )
    gevent.wait([ended, gevent.spawn(_finished, job)], count=1)
    if ended.is_set():
        return RUN_OVER_EXIT
    arrivals = job.parts()[0]
    runner.send_message(
        protocol.ROWS,
        {"index": arrivals.index, "rows": settled_rows(job), "cpu_s": arrivals.cpu_s, "wall_s": arrivals.wall_s},
    )
    runner.greenlet.join()  # until the master says quit
    return 0


def _address_towards(host: str, port: int) -> str:
    """This host's address on the way to the master (a UDP socket's connect sends nothing)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return probe.getsockname()[0]


def _finished(job: Job) -> None:
    job.assigned.wait()
    job.parts()[0].finished.wait()


def _summary(rows: list[tuple]) -> dict:
    from bench.record.stats import percentile

    sends = [(row[3] - row[2]) / 1e6 for row in rows if not row[4]]
    return {
        "requests": len(rows),
        "failures": sum(1 for row in rows if row[4]),
        "enqueue_p50_ms": percentile(sends, 50),
        "enqueue_p99_ms": percentile(sends, 99),
    }


def write_rows(path: str, rows: list[tuple]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ROW_COLUMNS)
        by_schedule = sorted(rows, key=lambda r: r[1])
        writer.writerows(by_schedule)


ROLES = {"local": run_local, "master": run_master, "worker": run_worker, "farewell": run_farewell}

if __name__ == "__main__":
    spec = json.loads(os.environ[SPEC_ENV])
    raise SystemExit(ROLES[spec.get("role", "local")](spec))
