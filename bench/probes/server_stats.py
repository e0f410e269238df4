"""Server-side counters read around each step: sessions opened (pg_stat_database.sessions, PostgreSQL 14+).

This is the independent count of connections opened, against which the client-side connect events
are checked. Backends add to it in pending statistics that reach shared memory when they exit or
at most about a second after they go idle, so a reading is taken only after the step has settled.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bench.errors import BenchError


def one_row(conn: psycopg.Connection, sql: str, params: tuple = ()) -> tuple:
    """The row a query that answers exactly one answers."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise BenchError(f"the server answered no row to {sql!r}")
    return row


def scalar(conn: psycopg.Connection, sql: str, params: tuple = ()) -> Any:
    """The one value of a query that answers one row of one column."""
    return one_row(conn, sql, params)[0]


class ServerStats:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        conn = self._connect()
        self._conn: psycopg.Connection | None = conn
        self.server_version_num = int(scalar(conn, "SHOW server_version_num"))
        self.server_version = scalar(conn, "SHOW server_version")
        self.max_connections = int(scalar(conn, "SHOW max_connections"))
        self.ssl_in_use = bool(scalar(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
        """Whether bench's own connection (like every other it makes) is encrypted."""

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self._url, autocommit=True, application_name="bench-stats", connect_timeout=5)

    @property
    def has_session_counts(self) -> bool:
        return self.server_version_num >= 140000

    def _read(self, *statements: tuple[str, tuple]) -> tuple | None:
        """The first row of the last statement; on a lost connection, one retry on a new one, then
        None (the server is down: the reading is missing, not wrong)."""
        for attempt in range(2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                row = None
                for sql, params in statements:
                    row = self._conn.execute(sql, params).fetchone()
                return row
            except psycopg.OperationalError:
                self.close()
        return None

    def sessions_total(self) -> int | None:
        """Sessions ever established to this database, as the server counts them."""
        if not self.has_session_counts:
            return None
        # Statistics are cached per transaction; start from a fresh snapshot every time.
        row = self._read(
            ("SELECT pg_stat_clear_snapshot()", ()),
            ("SELECT sessions FROM pg_stat_database WHERE datname = current_database()", ()),
        )
        return None if row is None else int(row[0])

    def connections(self, application_name: str) -> int | None:
        """Backends now connected to this database under `application_name`."""
        row = self._read(
            (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                (application_name,),
            )
        )
        return None if row is None else int(row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
