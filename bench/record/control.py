"""The control channel: how task records reach bench from workers that may run on other hosts.

`records = "control"` sends each record through a small Redis of bench's own (never the broker
under test, so measuring does not load what is measured) instead of a file on this host. Each
worker process estimates its clock's offset to the channel's clock when it starts and every
`REESTIMATE_S` (bench.clock) and sends it with every record; bench, which estimates its own offset
to the same clock, turns the record's times into its own clock and keeps the offset and its
uncertainty with the record.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import cast

import redis

from bench.clock import ClockOffset, estimate_offset, redis_time_ns
from bench.record.collect import TaskRecord

REESTIMATE_S = 5.0
BATCH = 1000


def records_key(queue: str) -> str:
    return f"bench:records:{queue}"


class _Offset:
    """This process's offset to the channel's clock, estimated again once it is `REESTIMATE_S` old."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._value: ClockOffset | None = None
        self._at = 0.0

    def current(self) -> ClockOffset:
        if self._value is None or time.monotonic() - self._at > REESTIMATE_S:
            self._value = estimate_offset(lambda: redis_time_ns(self._client))
            self._at = time.monotonic()
        return self._value


class ControlRecordSink:
    """Worker side: one RPUSH per record, with the process's clock offset; connects after the fork."""

    def __init__(self, url: str, queue: str) -> None:
        self._url, self._key = url, records_key(queue)
        self._host = socket.gethostname()
        self._pid = 0
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._offset: _Offset | None = None

    def write(self, record: dict) -> None:
        with self._lock:
            client, tracker = self._client, self._offset
            if self._pid != os.getpid() or client is None or tracker is None:
                self._pid = os.getpid()
                client = self._client = redis.Redis.from_url(self._url)
                tracker = self._offset = _Offset(client)
            offset = tracker.current()
            client.rpush(
                self._key,
                json.dumps(
                    {
                        **record,
                        "clock_offset_ns": offset.offset_ns,
                        "clock_uncertainty_ns": offset.uncertainty_ns,
                        "host": self._host,
                    },
                    separators=(",", ":"),
                ),
            )


class ControlRecordReader:
    """Bench side: takes the records pushed since the previous call, in bench's clock."""

    def __init__(self, url: str, queue: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._key = records_key(queue)
        self._offset = _Offset(self._client)

    def poll(self) -> list[TaskRecord]:
        records: list[TaskRecord] = []
        # LPOP with a count answers a list of the popped values (or None on an empty list).
        while raw := cast("list[bytes] | None", self._client.lpop(self._key, BATCH)):
            ours = self._offset.current()
            records.extend(self._in_our_clock(json.loads(line), ours) for line in raw)
            if len(raw) < BATCH:
                break
        return records

    @staticmethod
    def _in_our_clock(data: dict, ours: ClockOffset) -> TaskRecord:
        """The agent's times moved to bench's clock: its clock runs `ahead` of ours by its offset to the
        channel less ours (scheduled_ns came from the load generator, in bench's clock already)."""
        ahead = ours.offset_ns - data.pop("clock_offset_ns")
        uncertainty = ours.uncertainty_ns + data.pop("clock_uncertainty_ns")
        record = TaskRecord(**data, clock_offset_ns=ahead, clock_uncertainty_ns=uncertainty)
        record.started_ns -= ahead
        record.finished_ns -= ahead
        return record

    def close(self) -> None:
        self._client.close()
