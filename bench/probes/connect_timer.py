"""Times every new DBAPI connection (TCP connect + authentication + backend start).

SQLAlchemy's `do_connect` event lets a listener make the connection itself; doing so between two
clock reads times exactly the driver's connect call, for asyncpg and psycopg alike, and nothing of
the pool or of the dialect's first-use set-up. Durations go to the list that `collecting()` installed
for the current task (a context variable, so concurrent greenlets and asgiref's loop thread each
reach their own task's list).
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from typing import Iterator

from sqlalchemy import Engine, event

_current: ContextVar[list[int] | None] = ContextVar("bench_connect_durations", default=None)


def instrument(engine: Engine) -> None:
    """Attach the timer to a (sync) engine; for an AsyncEngine pass `engine.sync_engine`."""

    @event.listens_for(engine, "do_connect")
    def timed_connect(dialect, connection_record, cargs, cparams):
        started = time.perf_counter_ns()
        connection = dialect.connect(*cargs, **cparams)
        durations = _current.get()
        if durations is not None:
            durations.append(time.perf_counter_ns() - started)
        return connection


@contextlib.contextmanager
def collecting() -> Iterator[list[int]]:
    """Collect the connect durations (ns) of the connections opened inside the block."""
    durations: list[int] = []
    token = _current.set(durations)
    try:
        yield durations
    finally:
        _current.reset(token)
