"""Server-side counters read around each step: sessions opened (pg_stat_database.sessions, PostgreSQL 14+).

This is the independent count of connections opened, against which the client-side connect events
are checked. Backends add to it in pending statistics that reach shared memory when they exit or
at most about a second after they go idle, so a reading is taken only after the step has settled.
"""

from __future__ import annotations

import psycopg


class ServerStats:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection | None = self._connect()
        self.server_version_num = int(self._conn.execute("SHOW server_version_num").fetchone()[0])
        self.server_version = self._conn.execute("SHOW server_version").fetchone()[0]
        self.max_connections = int(self._conn.execute("SHOW max_connections").fetchone()[0])
        self.ssl_in_use = bool(
            self._conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
        )
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
