"""Messages waiting in the broker for the running arm's queue, over time, on a connection of its own.

Redis: LLEN of the queue's list (Celery's Redis transport and taskiq's ListQueueBroker both keep a
queue as one list). RabbitMQ: the ready count a passive queue.declare returns. On both, a message
leaves the count when it is delivered to a worker, so what workers have prefetched (Celery's
prefetch multiplier) is not counted: the depth is the backlog no worker has taken yet.

A thread (bench.probes.poller) polls every `interval_s` and appends each sample to queue_depth.csv as it is taken. Its
polls are broker work too: at 10 Hz, a few hundred microseconds of the broker's CPU a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import amqp
import redis

from bench.probes.poller import CsvPoller
from bench.services.brokers import amqp_connection
from bench.urls import broker_kind

QUEUE_DEPTH_COLUMNS = ["elapsed_s", "architecture", "step", "ready"]


@dataclass(frozen=True)
class DepthSample:
    t_ns: int
    """CLOCK_MONOTONIC time of the sample."""
    step: int | None
    ready: int


class QueueDepthProbe(CsvPoller):
    columns = QUEUE_DEPTH_COLUMNS

    def __init__(
        self, broker_url: str, queue: str, architecture: str, csv_path: Path, run_start_ns: int, interval_s: float = 0.1
    ) -> None:
        super().__init__("queue-depth", csv_path, interval_s)
        self.step: int | None = None
        """The step the next samples belong to; set by the step."""
        self.samples: list[DepthSample] = []
        self.error: str | None = None
        """The last failure to read the depth; polling goes on, reconnecting."""
        self._url, self._queue, self._architecture = broker_url, queue, architecture
        self._kind = broker_kind(broker_url)
        self._run_start_ns = run_start_ns
        self._redis: redis.Redis | None = None
        self._amqp: amqp.Connection | None = None
        self._channel: amqp.Channel | None = None

    def _row(self, sample: DepthSample) -> list:
        elapsed = (sample.t_ns - self._run_start_ns) / 1e9
        return [f"{elapsed:.3f}", self._architecture, "" if sample.step is None else sample.step, sample.ready]

    def _take_or_reconnect(self) -> DepthSample | None:
        step, t_ns = self.step, time.monotonic_ns()
        try:
            return DepthSample(t_ns, step, self._ready())
        except Exception as exc:  # a broker restarting, a dropped connection: a gap, then a new connection
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._close()
            return None

    def _ready(self) -> int:
        if self._kind == "redis":
            if self._redis is None:
                self._redis = redis.Redis.from_url(self._url, socket_timeout=1, socket_connect_timeout=1)
            return int(self._redis.llen(self._queue))
        if self._amqp is None:
            self._amqp = amqp_connection(self._url, 1)
        if self._channel is None:
            self._channel = self._amqp.channel()
        try:
            return int(self._channel.queue_declare(self._queue, passive=True).message_count)
        except amqp.exceptions.NotFound:  # not declared yet (the workers declare it): nothing waits in it
            self._channel = None  # the broker closes a channel on a failed passive declare
            return 0

    def between(self, start_ns: int, end_ns: int) -> list[int]:
        return [s.ready for s in list(self.samples) if start_ns <= s.t_ns <= end_ns]

    def _close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._amqp is not None:
            try:
                self._amqp.close()
            except Exception:  # already broken: closing is best effort
                pass
        self._redis = self._amqp = self._channel = None
