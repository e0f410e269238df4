"""The load generator's Celery producer: Celery's protocol 2 message, built once per task, sent straight
to the broker.

Celery's own `send_task` builds the same message through the app, kombu's producer, the routing
and its signals: 1.0-1.7 ms of CPU per message on a 2-core VM, which the load generator then takes
from the workers it measures. Here the message is the one `send_task(TASK_NAME, args=[task_id,
scheduled_ns], task_id=task_id, queue=queue)` sends (headers, properties, body; test_celery_sender
decodes both and finds them equal but for ids and times), put where kombu puts it: on Redis, LPUSH of
kombu's JSON envelope (base64 body) onto the queue's list, without waiting for each reply
(bench/architectures/list_push.py); on RabbitMQ, basic_publish to the default exchange with the queue
as routing key, over one py-amqp channel (Celery publishes without confirms, and so does this).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import uuid
from typing import Callable
from urllib.parse import unquote, urlsplit

from bench.architectures.list_push import ListPusher

Send = Callable[[str, int], None]

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
CONTENT_TYPE, CONTENT_ENCODING = "application/json", "utf-8"


def task_headers(task_name: str, task_id: str, args: list, origin: str) -> dict:
    """Celery protocol 2's headers for a task with positional `args`, no eta, no limits of its own."""
    return {"lang": "py", "task": task_name, "id": task_id, "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
            "parent_id": None, "argsrepr": repr(args), "kwargsrepr": "{}", "origin": origin,
            "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {}}


def task_body(args: list) -> bytes:
    return json.dumps([args, {}, EMBED]).encode()


def make_sender(broker_url: str, queue: str, task_name: str) -> Send:
    """`send(task_id, scheduled_ns)` for a Redis (redis://, rediss://) or RabbitMQ (amqp://) broker."""
    origin = f"gen{os.getpid()}@{socket.gethostname()}"
    reply_to = str(uuid.uuid4())  # Celery's app id, which nothing reads with results ignored
    scheme = urlsplit(broker_url).scheme
    if scheme.startswith("redis"):
        return _redis_sender(broker_url, queue, task_name, origin, reply_to)
    if scheme.startswith("amqp") or scheme == "pyamqp":
        return _amqp_sender(broker_url, queue, task_name, origin, reply_to)
    raise ValueError(f"no direct Celery sender for {scheme}://")


def _redis_sender(broker_url: str, queue: str, task_name: str, origin: str, reply_to: str) -> Send:
    pusher = ListPusher(broker_url)

    def send(task_id: str, scheduled_ns: int) -> None:
        args = [task_id, scheduled_ns]
        envelope = {"body": base64.b64encode(task_body(args)).decode(), "content-encoding": CONTENT_ENCODING,
                    "content-type": CONTENT_TYPE, "headers": task_headers(task_name, task_id, args, origin),
                    "properties": {"correlation_id": task_id, "reply_to": reply_to, "delivery_mode": 2,
                                   "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
                                   "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())}}
        pusher.push(queue, json.dumps(envelope), task_id)  # kombu's key for priority 0 is the queue's name

    send.settle = pusher.settle
    return send


def _amqp_sender(broker_url: str, queue: str, task_name: str, origin: str, reply_to: str) -> Send:
    import amqp

    parts = urlsplit(broker_url)
    connection = amqp.Connection(host=f"{parts.hostname}:{parts.port or 5672}", userid=unquote(parts.username or "guest"),
                                 password=unquote(parts.password or "guest"),
                                 virtual_host=unquote(parts.path[1:]) if len(parts.path) > 1 else "/")
    connection.connect()
    channel = connection.channel()
    # The workers declared the queue; to the default exchange, a message for no queue would vanish.
    channel.queue_declare(queue, passive=True)
    # One channel for every Locust user: a frame must not be cut by another greenlet's (the lock is
    # gevent's under the load generator's monkey-patching).
    lock = threading.Lock()

    def send(task_id: str, scheduled_ns: int) -> None:
        args = [task_id, scheduled_ns]
        message = amqp.Message(task_body(args), content_type=CONTENT_TYPE, content_encoding=CONTENT_ENCODING,
                               application_headers=task_headers(task_name, task_id, args, origin), delivery_mode=2,
                               priority=0, correlation_id=task_id, reply_to=reply_to)
        with lock:
            channel.basic_publish(message, exchange="", routing_key=queue)

    return send
