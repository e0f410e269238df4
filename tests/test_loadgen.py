"""The load generator, on the real broker: open loop, on schedule, messages carry their scheduled time."""

import json
import time

import pytest
import redis

from bench.architectures import WorkerSpec
from bench.loadgen import LoadGenerator
from bench.schedule import StepPlan


def test_generator_sends_every_arrival_on_schedule_and_messages_carry_it(services, tmp_path):
    spec = WorkerSpec("prefork-nullpool", services.database_url, services.broker_url, "loadgen-test",
                      "point_select", 10, str(tmp_path), 1, 1, 0)
    plan = StepPlan(index=5, rate_per_s=1000, warmup_s=0, measure_s=1.0, arrival="uniform", seed=1)
    gen = LoadGenerator("prefork-nullpool", spec, plan, users=8, out_dir=tmp_path, log_dir=tmp_path)
    try:
        gen.wait_ready()
        start = time.monotonic_ns() + 300_000_000
        gen.go(start)
        deadline = time.monotonic() + 30
        while not gen.finished() and time.monotonic() < deadline:
            time.sleep(0.05)
        enqueues = gen.enqueues()
    finally:
        gen.stop()
    assert len(enqueues) == 1000 and not [e for e in enqueues if e.error]
    assert gen.summary["requests"] == 1000 and gen.summary["failures"] == 0
    assert [e.scheduled_ns - start for e in enqueues] == plan.offsets_ns()
    assert min(e.send_started_ns - e.scheduled_ns for e in enqueues) >= 0  # never sent early
    assert all(e.enqueued_ns >= e.send_started_ns for e in enqueues)
    # Open loop: the last arrival goes out about 1 s after the first, not later (generous for 2 cores).
    span_s = (max(e.enqueued_ns for e in enqueues) - min(e.enqueued_ns for e in enqueues)) / 1e9
    assert span_s == pytest.approx(1.0, abs=0.25)
    queued = redis.Redis.from_url(services.broker_url).lrange("loadgen-test", 0, -1)
    assert len(queued) == 1000
    body = json.loads(queued[0])
    sent_args = json.loads(__import__("base64").b64decode(body["body"]))[0]
    assert sent_args in [[e.task_id, e.scheduled_ns] for e in enqueues]
