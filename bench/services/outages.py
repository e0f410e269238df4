"""Outages of the servers given by URL (a user's, which bench neither starts nor stops).

Such a server may restart mid-run; the run goes on, and the outage is a fact of the results. A
thread asks each server a trivial question every `interval_s` on a connection of its own (a
reconnecting one), and keeps when each stopped answering and when it answered again. Steps that
overlap an outage say so (`outage_s`), run.json lists them and the connections chart shades them.
Servers bench started itself are not probed here: if one of those exits, the run stops (see
`Services.exited`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import psycopg
import redis

from bench.services.brokers import amqp_connection

from bench.urls import broker_kind

PROBE_TIMEOUT_S = 1


@dataclass
class Outage:
    server: str
    """"database" or "broker"."""
    start_ns: int
    """CLOCK_MONOTONIC time of the first failed probe."""
    end_ns: int | None
    """Of the first probe that succeeded again; None while it lasts."""
    error: str
    """Type of the first failure, e.g. OperationalError."""

    def overlap_s(self, begin_ns: int, end_ns: int) -> float:
        stop = self.end_ns if self.end_ns is not None else end_ns
        return max(0, min(stop, end_ns) - max(self.start_ns, begin_ns)) / 1e9

    def as_dict(self, run_start_ns: int) -> dict:
        end = None if self.end_ns is None else round((self.end_ns - run_start_ns) / 1e9, 3)
        return {
            "server": self.server,
            "start_s": round((self.start_ns - run_start_ns) / 1e9, 3),
            "end_s": end,
            "error": self.error,
        }


class DatabaseProbe:
    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection | None = None

    def __call__(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=PROBE_TIMEOUT_S, application_name="bench-probe"
                )
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class BrokerProbe:
    """Redis: a PING on one kept client. RabbitMQ: a fresh AMQP login each time (a kept connection
    would need heartbeats to notice a restart)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = (
            redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
            if broker_kind(url) == "redis"
            else None
        )

    def __call__(self) -> None:
        if self._client is not None:
            self._client.ping()
        else:
            amqp_connection(self._url, PROBE_TIMEOUT_S).close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class OutageWatch(threading.Thread):
    """Probes each server in turn; `outages` grows as they come and go."""

    def __init__(self, probes: dict[str, Callable[[], None]], interval_s: float = 0.1) -> None:
        super().__init__(name="outage-watch", daemon=True)
        self.probes = probes
        self.interval_s = interval_s
        self.outages: list[Outage] = []
        self._open: dict[str, Outage] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            for name, probe in self.probes.items():
                self._check(name, probe)

    def _check(self, name: str, probe: Callable[[], None]) -> None:
        try:
            probe()
        except Exception as exc:  # any failure to answer is the outage being measured
            if name not in self._open:
                self._open[name] = Outage(name, time.monotonic_ns(), None, type(exc).__name__)
                self.outages.append(self._open[name])
            return
        if name in self._open:
            self._open.pop(name).end_ns = time.monotonic_ns()

    def down_s(self, begin_ns: int, end_ns: int) -> float:
        """Seconds of [begin_ns, end_ns] during which some server was down."""
        return sum(o.overlap_s(begin_ns, end_ns) for o in list(self.outages))

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        for probe in self.probes.values():
            getattr(probe, "close", lambda: None)()
