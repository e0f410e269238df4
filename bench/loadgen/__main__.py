"""The load generator process: Locust, as a library and headless, enqueueing one step's arrivals.

Several Locust users share one arrival schedule. Each takes the next arrival, sleeps until its
absolute time, and enqueues it without waiting for the task to run. A user that is late sends at
once (late arrivals are not dropped and do not push later ones back), so the offered load holds;
how late each send started (send_late = send started - scheduled, what pgbench -R calls schedule lag)
and how long the send itself took (send = accepted - send started) are recorded apart.

Protocol with bench: prints "ready" when connected, reads the start time (CLOCK_MONOTONIC ns) on
stdin, writes one CSV row per arrival, then prints "done {json summary}". SIGTERM after the start
ends the schedule early, still writing the rows of what was sent.
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
from bench.loadgen import SPEC_ENV  # noqa: E402
from bench.schedule import StepPlan  # noqa: E402


class Arrivals:
    """The step's schedule, handed out in order to whichever user asks next."""

    def __init__(self, plan: StepPlan, users: int) -> None:
        self.plan = plan
        self.offsets = plan.offsets_ns()
        self.next_seq = 0
        self.start_ns = 0
        self.rows: list[tuple[str, int, int, int, str]] = []
        self.users_left = users
        self.finished = Event()
        self.halted = False

    def halt(self) -> None:
        """Send nothing more (bench asks on SIGTERM when a server died): the rows so far are written."""
        self.halted = True
        self.finished.set()

    def take(self) -> tuple[str, int] | None:
        if self.next_seq >= len(self.offsets) or self.halted:
            return None
        seq = self.next_seq
        self.next_seq += 1
        return self.plan.task_id(seq), self.start_ns + self.offsets[seq]

    def user_done(self) -> None:
        self.users_left -= 1
        if self.users_left == 0:
            self.finished.set()


def make_user_class(arrivals: Arrivals, send, name: str) -> type[User]:
    class Enqueuer(User):
        wait_time = constant(0)

        @task
        def enqueue(self) -> None:
            item = arrivals.take()
            if item is None:
                arrivals.user_done()
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
            arrivals.rows.append((task_id, scheduled_ns, send_started_ns, enqueued_ns, error))
            self.environment.events.request.fire(
                request_type="enqueue", name=name, response_time=(time.monotonic_ns() - send_started_ns) / 1e6,
                response_length=0, exception=error or None, context={})

    return Enqueuer


def main() -> int:
    spec = json.loads(os.environ[SPEC_ENV])
    plan = StepPlan(**spec["plan"])
    worker_spec = WorkerSpec(**spec["worker_spec"])
    send = get_architecture(spec["architecture"]).make_producer(worker_spec)
    arrivals = Arrivals(plan, spec["users"])
    env = Environment(user_classes=[make_user_class(arrivals, send, spec["architecture"])])
    runner = env.create_local_runner()
    print("ready", flush=True)
    arrivals.start_ns = int(sys.stdin.readline())
    gevent.signal_handler(signal.SIGTERM, arrivals.halt)
    runner.start(spec["users"], spawn_rate=10_000)
    arrivals.finished.wait()
    runner.quit()
    write_rows(spec["out_path"], arrivals.rows)
    total = env.stats.total
    summary = {"requests": total.num_requests, "failures": total.num_failures,
               "enqueue_p50_ms": total.get_response_time_percentile(0.5),
               "enqueue_p99_ms": total.get_response_time_percentile(0.99)}
    print("done " + json.dumps(summary), flush=True)
    return 0


def write_rows(path: str, rows: list[tuple[str, int, int, int, str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task_id", "scheduled_ns", "send_started_ns", "enqueued_ns", "error"])
        writer.writerows(sorted(rows, key=lambda r: r[1]))


if __name__ == "__main__":
    raise SystemExit(main())
