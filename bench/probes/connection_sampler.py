"""Server-side connection counts over time, from pg_stat_activity, on a connection of its own.

A thread (bench.probes.poller) polls every `interval_s` (20 Hz by default) and counts the benchmark's backends
(application_name "bench:*") by state; its own backend is excluded. Each sample is appended to
samples.csv as it is taken, so an interrupted run keeps the series. Connections that live for
less than the interval (NullPool's) can fall between samples: peaks are lower bounds, and the
exact number of connections opened comes from pg_stat_database.sessions instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from bench.engines import APPLICATION_PREFIX
from bench.measures import Sample
from bench.probes.poller import CsvPoller

SAMPLE_COLUMNS = ["elapsed_s", "architecture", "step", "connections", "active", "idle", "idle_in_transaction", "other"]

_QUERY = """
SELECT state, count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database() AND application_name LIKE %s
GROUP BY state
"""


class ConnectionSampler(CsvPoller):
    columns = SAMPLE_COLUMNS

    def __init__(self, database_url: str, csv_path: Path, run_start_ns: int, interval_s: float = 0.05) -> None:
        super().__init__("connection-sampler", csv_path, interval_s)
        self.samples: list[Sample] = []
        self.label: tuple[str, int | None] = ("", None)
        """(architecture, step) the next samples belong to; set by the runner."""
        self._run_start_ns = run_start_ns
        self._url = database_url
        self._conn: psycopg.Connection | None = self._connect()
        self.error: str | None = None
        """The last failure to sample; sampling goes on, reconnecting, when the server answers again."""

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self._url, autocommit=True, application_name="bench-sampler", connect_timeout=1)

    def _take_or_reconnect(self) -> Sample | None:
        """A sample, or None while the server does not answer (a restart of a user's server, say):
        the samples then have a gap, and the next call tries a new connection."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            return self._take(self._conn)
        except psycopg.Error as exc:
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return None

    def _take(self, conn: psycopg.Connection) -> Sample:
        counts = {"active": 0, "idle": 0, "idle in transaction": 0}
        other = 0
        architecture, step = self.label
        t_ns = time.monotonic_ns()
        for state, count in conn.execute(_QUERY, (APPLICATION_PREFIX + "%",)):
            if state in counts:
                counts[state] += count
            else:
                other += count
        return Sample(t_ns, architecture, step, counts["active"], counts["idle"], counts["idle in transaction"], other)

    def _row(self, s: Sample) -> list:
        elapsed = (s.t_ns - self._run_start_ns) / 1e9
        return [
            f"{elapsed:.3f}",
            s.architecture,
            "" if s.step is None else s.step,
            s.connections,
            s.active,
            s.idle,
            s.idle_in_transaction,
            s.other,
        ]

    def between(self, start_ns: int, end_ns: int) -> list[Sample]:
        return [s for s in list(self.samples) if start_ns <= s.t_ns <= end_ns]

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
