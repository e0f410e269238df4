"""bench's Celery producer sends the message Celery's send_task sends, on Redis and on RabbitMQ."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import unquote, urlsplit

import pytest

from bench.architectures.celery_common import TASK_NAME, send_task_producer
from bench.architectures.celery_sender import make_sender

IDS = {"id", "root_id", "correlation_id", "delivery_tag", "reply_to", "argsrepr", "origin"}
"""What differs between two messages of two producers: ids (task, delivery, app, process) and what
carries them; and times (the args, compared apart)."""


def _spec(url: str, queue: str):
    from bench.architectures import WorkerSpec

    return WorkerSpec(
        architecture="prefork-nullpool",
        database_url="",
        broker_url=url,
        queue=queue,
        workload="point_select",
        table_rows=10,
        records_dir="",
        worker_processes=1,
        pool_size=1,
        max_overflow=0,
    )


def _redis_message(url: str, queue: str) -> dict:
    import redis

    raw = json.loads(redis.Redis.from_url(url).rpop(queue))
    body = json.loads(base64.b64decode(raw.pop("body")))
    return {"body": body, "headers": raw.pop("headers"), "properties": raw.pop("properties"), "envelope": raw}


def _amqp_message(url: str, queue: str) -> dict:
    import amqp

    parts = urlsplit(url)
    connection = amqp.Connection(
        host=f"{parts.hostname}:{parts.port}",
        userid=unquote(parts.username),
        password=unquote(parts.password),
        virtual_host="/",
    )
    connection.connect()
    try:
        message = connection.channel().basic_get(queue, no_ack=True)
        properties = dict(message.properties)
        headers = properties.pop("application_headers")
        return {
            "body": json.loads(message.body),
            "headers": headers,
            "properties": properties,
            "envelope": {
                "exchange": message.delivery_info["exchange"],
                "routing_key": message.delivery_info["routing_key"],
            },
        }
    finally:
        connection.close()


def _without_ids(message: dict) -> dict:
    strip = lambda d: {k: v for k, v in d.items() if k not in IDS}  # noqa: E731
    args, kwargs, embed = message["body"]
    return {
        "args": [type(a).__name__ for a in args],
        "kwargs": kwargs,
        "embed": embed,
        "headers": strip(message["headers"]),
        "properties": strip(message["properties"]),
        "envelope": message["envelope"],
    }


def _both_messages(url: str, read) -> tuple[dict, dict, int]:
    queue = f"sender-test-{time.monotonic_ns()}"
    scheduled_ns = time.monotonic_ns()
    send_task_producer(_spec(url, queue))("0.0.1", scheduled_ns)
    celery = read(url, queue)
    send = make_sender(url, queue, TASK_NAME)
    send("0.0.2", scheduled_ns)
    assert send.settle() == {}  # every push answered, none refused
    bench = read(url, queue)
    return celery, bench, scheduled_ns


def _check(celery: dict, bench: dict, scheduled_ns: int) -> None:
    assert _without_ids(bench) == _without_ids(celery)
    assert celery["body"][0] == ["0.0.1", scheduled_ns] and bench["body"][0] == ["0.0.2", scheduled_ns]
    for message, task_id in ((celery, "0.0.1"), (bench, "0.0.2")):
        headers = message["headers"]
        assert headers["id"] == headers["root_id"] == message["properties"]["correlation_id"] == task_id
        assert headers["argsrepr"] == repr([task_id, scheduled_ns])
        assert headers["task"] == TASK_NAME


def test_on_redis_the_message_is_celerys_but_for_ids_and_times(services):
    _check(*_both_messages(services.broker_url, _redis_message))


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory):
    from bench.services.rabbitmq import ManagedRabbitMQ

    with ManagedRabbitMQ(tmp_path_factory.mktemp("rabbitmq")) as server:
        yield server


def test_on_rabbitmq_the_message_is_celerys_but_for_ids_and_times(rabbitmq):
    _check(*_both_messages(rabbitmq.url, _amqp_message))


def test_a_push_the_server_refuses_is_an_enqueue_failure_of_that_task(services):
    import redis

    queue = f"sender-test-{time.monotonic_ns()}"
    redis.Redis.from_url(services.broker_url).set(queue, "not a list")  # LPUSH onto it: WRONGTYPE
    send = make_sender(services.broker_url, queue, TASK_NAME)
    send("0.0.1", 1)  # written without waiting: the refusal comes with the reply
    assert send.settle() == {"0.0.1": "WRONGTYPE"}  # Redis's error code


def test_over_tls_the_message_is_the_same_and_a_refusal_still_counts(tmp_path, child_processes):
    # rediss:// pushes through redis-py's socket (TLS records can't be written to the descriptor).
    import redis

    from bench.services.redis import ManagedRedis

    with ManagedRedis(tmp_path, tls=True) as server:
        _check(*_both_messages(server.url, _redis_message))
        queue = f"sender-test-{time.monotonic_ns()}"
        redis.Redis.from_url(server.url).set(queue, "not a list")
        send = make_sender(server.url, queue, TASK_NAME)
        send("0.0.1", 1)
        assert send.settle() == {"0.0.1": "WRONGTYPE"}
