"""The load generator's Celery producer: Celery's protocol 2 message, built once per task, sent straight
to the broker.

Celery's own `send_task` builds the same message through the app, kombu's producer, the routing
and its signals: 1.0-1.7 ms of CPU per message on a 2-core VM, which the load generator then takes
from the workers it measures. Here the message is the one `send_task(TASK_NAME, args=[task_id,
scheduled_ns], task_id=task_id, queue=queue)` sends (headers, properties, body; test_celery_sender
decodes both and finds them equal but for ids and times), put where kombu puts it: on Redis, LPUSH of
kombu's JSON envelope (base64 body) onto the queue's list, without waiting for each reply
(bench/architectures/list_push.py); on RabbitMQ, basic_publish to the default exchange with the queue
as routing key, on one channel (bench/architectures/amqp_publish.py; Celery publishes without
confirms, and so does this). The message is made from a template (MessageTemplate), filled in per task,
ahead of its time (bench/architectures/producer.py).
"""

from __future__ import annotations

import base64
import json
import itertools
import os
import socket
import threading
import uuid
from urllib.parse import urlsplit

from bench.architectures.amqp_publish import Publisher, TableTemplate
from bench.architectures.list_push import ListPushProducer
from bench.architectures.producer import Producer

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
CONTENT_TYPE, CONTENT_ENCODING = "application/json", "utf-8"


def task_headers(task_name: str, task_id: str, args: list, origin: str) -> dict:
    """Celery protocol 2's headers for a task with positional `args`, no eta, no limits of its own."""
    return {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": origin,
        "ignore_result": None,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }


class MessageTemplate:
    """Protocol 2's body and Redis envelope for one task name, queue and producer, made once with
    stand-ins where the task id, scheduled time and delivery tag go; a task's message fills them in
    (json.dumps of the whole envelope, per task, cost more than the push itself)."""

    STAND_INS = {"@@ID@@": "%(id)s", "@@ARGSREPR@@": "%(argsrepr)s", "@@BODY@@": "%(body)s", "@@TAG@@": "%(tag)s"}

    def __init__(self, task_name: str, queue: str, origin: str, reply_to: str) -> None:
        self.origin, self.reply_to, self.task_name, self.queue = origin, reply_to, task_name, queue
        self._body = json.dumps([["@@ID@@", 0], {}, EMBED]).replace("%", "%%").replace('"@@ID@@", 0', "%(id)s, %(ns)d")
        envelope = {
            "body": "@@BODY@@",
            "content-encoding": CONTENT_ENCODING,
            "content-type": CONTENT_TYPE,
            "headers": {**task_headers(task_name, "@@ID@@", [], origin), "argsrepr": "@@ARGSREPR@@"},
            "properties": {
                "correlation_id": "@@ID@@",
                "reply_to": reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": "@@TAG@@",
            },
        }
        self._envelope = _with_slots(json.dumps(envelope), self.STAND_INS)
        # Delivery tags (kombu's key for a message in flight): a UUID shape as kombu's uuid4(), unique by a
        # random prefix per producer and a serial number, without a getrandom() and a UUID object per task.
        self._tag_prefix, self._tag_serial = str(uuid.uuid4())[:24], itertools.count()

    def body(self, task_id: str, scheduled_ns: int) -> bytes:
        return (self._body % {"id": '"%s"' % _json_inside(task_id), "ns": scheduled_ns}).encode()

    def redis_envelope(self, task_id: str, scheduled_ns: int) -> bytes:
        """kombu's Redis message: the envelope, with the body base64 and a fresh delivery tag."""
        return (
            self._envelope
            % {
                "id": _json_inside(task_id),
                "argsrepr": _json_inside(repr([task_id, scheduled_ns])),
                "body": base64.b64encode(self.body(task_id, scheduled_ns)).decode(),
                "tag": "%s%012x" % (self._tag_prefix, next(self._tag_serial)),
            }
        ).encode()


def _json_inside(text: str) -> str:
    """`text` as it goes between a JSON string's quotes. bench's task ids ("0.3.41") need no escapes:
    checked, that costs less than json.dumps, one of the larger parts of a message's CPU."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return json.dumps(text)[1:-1]


def _with_slots(text: str, stand_ins: dict[str, str]) -> str:
    text = text.replace("%", "%%")
    for stand_in, slot in stand_ins.items():
        text = text.replace(stand_in, slot)
    return text


def make_sender(broker_url: str, queue: str, task_name: str) -> Producer:
    """The producer for a Redis (redis://, rediss://) or RabbitMQ (amqp://) broker."""
    template = MessageTemplate(
        task_name, queue, f"gen{os.getpid()}@{socket.gethostname()}", str(uuid.uuid4())
    )  # reply_to: Celery's app id, which nothing reads with results ignored
    scheme = urlsplit(broker_url).scheme
    if scheme.startswith("redis"):
        return RedisSender(broker_url, template)
    if scheme.startswith("amqp") or scheme == "pyamqp":
        return AmqpSender(broker_url, template)
    raise ValueError(f"no direct Celery sender for {scheme}://")


class RedisSender(ListPushProducer):
    """LPUSH of kombu's envelope onto the queue's list (kombu's key for priority 0 is the queue's name)."""

    def __init__(self, broker_url: str, template: MessageTemplate) -> None:
        super().__init__(broker_url)
        self._template = template

    def prepare(self, task_id: str, scheduled_ns: int) -> bytes:
        return self.pack_command(self._template.queue, self._template.redis_envelope(task_id, scheduled_ns))


class AmqpSender(Producer):
    """basic.publish to the default exchange, the queue as routing key."""

    def __init__(self, broker_url: str, template: MessageTemplate) -> None:
        headers = TableTemplate(
            task_headers(template.task_name, "", [], template.origin), {"id", "root_id", "argsrepr"}
        )
        self._template = template
        self._publisher = Publisher(
            broker_url,
            template.queue,
            {
                "content_type": CONTENT_TYPE,
                "content_encoding": CONTENT_ENCODING,
                "delivery_mode": 2,
                "priority": 0,
                "reply_to": template.reply_to,
            },
            headers,
        )
        # One channel for every Locust user: a message's frames must not be cut by another greenlet's
        # (the lock is gevent's under the load generator's monkey-patching).
        self._lock = threading.Lock()

    def prepare(self, task_id: str, scheduled_ns: int) -> bytes:
        return self._publisher.frames(
            self._template.body(task_id, scheduled_ns),
            task_id,
            {"id": task_id, "root_id": task_id, "argsrepr": repr([task_id, scheduled_ns])},
        )

    def deliver(self, message: bytes, task_id: str) -> None:
        with self._lock:
            self._publisher.write(message)
