"""What sending a task costs the load generator: Celery's `send_task` against bench's own producer.

For each broker (a throwaway Redis and RabbitMQ node of bench's own), alternately, `--rounds` times:
- bare `send_task`: Celery's own producer in a plain process (no Locust, no gevent), `--tasks` sends
  paced at `--rate`, its process CPU per message (time.process_time over the sends);
- bare bench producer: the same loop with the producer bench's load generator uses, its messages
  prepared ahead in batches as the load generator does (bench/architectures/producer.py);
- under bench: `bench run --architectures prefork-nullpool[@rabbitmq] --rates RATE`, its steps.csv's
  `loadgen_cpu_ms_per_task` (the Locust load generator's whole CPU per task sent, users, stats and
  schedule included).
The issue's target: bench's load generator at a fifth or less of bare `send_task`.

    .venv/bin/python benchmarks/sender_cost.py [--rate 200] [--tasks 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LOOP = """
import sys, time
from bench.architectures import WorkerSpec
from bench.architectures.celery_common import CeleryArchitecture, send_task_producer
url, queue, which, rate, count = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
spec = WorkerSpec(architecture="prefork-nullpool", database_url="", broker_url=url, queue=queue, workload="point_select",
                  table_rows=10, records_dir="", worker_processes=1, pool_size=1, max_overflow=0)
producer = send_task_producer(spec) if which == "send_task" else CeleryArchitecture.make_producer(spec)
producer("warm.0", 0)  # connections made, imports done: not counted
start, cpu = time.monotonic(), time.process_time()
due = lambda i: start + i / rate
prepared = []
for i in range(count):
    if not prepared:  # as the load generator does: the next 0.5 s of messages (at most 100) at once
        ahead = [j for j in range(i, min(count, i + 100)) if due(j) - due(i) <= 0.5]
        prepared = [(producer.prepare(f"0.0.{j}", int(due(j) * 1e9)), f"0.0.{j}") for j in reversed(ahead)]
    delay = due(i) - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    producer.deliver(*prepared.pop())
print(1000 * (time.process_time() - cpu) / count)
"""


def declare_queue(url: str, queue: str) -> None:
    """RabbitMQ: the queue as a Celery worker declares it (bench's producer sends only to a declared one)."""
    if url.startswith("amqp"):
        from kombu import Connection, Queue

        with Connection(url) as connection:
            Queue(queue, routing_key=queue)(connection.default_channel).declare()


def bare(url: str, which: str, rate: float, count: int) -> float:
    queue = f"sender-cost-{which}-{time.monotonic_ns()}"
    declare_queue(url, queue)
    done = subprocess.run(
        [sys.executable, "-c", LOOP, url, queue, which, str(rate), str(count)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def under_bench(broker: str, rate: float, count: int, work: Path) -> float:
    results = Path(tempfile.mkdtemp(dir=work))
    arm = "prefork-nullpool" + ("@rabbitmq" if broker == "rabbitmq" else "")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--profile",
            "smoke",
            "--architectures",
            arm,
            "--rates",
            f"{rate:g}",
            "--step-seconds",
            f"{count / rate:g}",
            "--warmup-seconds",
            "1",
            "--results-dir",
            str(results),
            "--plots-dir",
            str(work / "plots"),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        env={**os.environ},
    )
    (steps,) = results.glob("*/steps.csv")
    with open(steps, newline="") as f:
        return float(next(csv.DictReader(f))["loadgen_cpu_ms_per_task"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--brokers", default="redis,rabbitmq")
    args = parser.parse_args()
    from bench.services.rabbitmq import ManagedRabbitMQ
    from bench.services.redis import ManagedRedis

    work = Path(tempfile.mkdtemp(prefix="bench-sender-"))
    print(f"CPU ms per message at {args.rate:g}/s, {args.tasks} messages, {args.rounds} rounds (each round's figure)")
    print(f"{'broker':<9} {'send_task':>18} {'bench producer':>18} {'bench loadgen':>18} {'loadgen/send_task':>18}")
    for broker in args.brokers.split(","):
        (work / broker).mkdir()
        server = (ManagedRedis if broker == "redis" else ManagedRabbitMQ)(work / broker)
        figures: dict[str, list[float]] = {"send_task": [], "bench": [], "loadgen": []}
        with server:
            for _ in range(args.rounds):
                figures["send_task"].append(bare(server.url, "send_task", args.rate, args.tasks))
                figures["bench"].append(bare(server.url, "bench", args.rate, args.tasks))
                figures["loadgen"].append(under_bench(broker, args.rate, args.tasks, work))
        cells = [" ".join(f"{x:.3f}" for x in figures[k]) for k in ("send_task", "bench", "loadgen")]
        ratio = statistics.median(figures["loadgen"]) / statistics.median(figures["send_task"])
        print(f"{broker:<9} {cells[0]:>18} {cells[1]:>18} {cells[2]:>18} {ratio:>18.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
