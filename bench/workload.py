"""The workload contract: what one task does against the database, written once for every architecture.

A workload is a subclass of `Workload`: a shipped one lives in the top-level `workloads/` package; a
team's own can live anywhere (`workload = "myapp.bench_tasks:Orders"` or `"path/to/orders.py:Orders"`,
bench/workload_loader.py). It gives
- `setup(connection)`: makes and seeds its tables (a sync SQLAlchemy connection, before the run);
  the default does nothing, for tables that exist already;
- a task body, in one transaction on the session the architecture gives, either as
  - `statements(rng)`: the SQL statements one task runs. Being a list rather than code that awaits,
    it runs unchanged through a sync Session and an AsyncSession, so in every architecture; or as
  - `async def run_async(self, session, rng)` and/or `def run_sync(self, session, rng)`: any code
    (ORM queries, relationships, Python work, awaits on other services). An architecture whose engine
    is async runs `run_async`, one whose engine is sync `run_sync`; one whose body the workload lacks
    is skipped (bench/run/arm_bodies.py).
The session's transaction begins with the body's first statement and is committed after the body; a
body may commit earlier itself (to give its connection back before a long wait), and its next
statement begins another. An exception a body raises fails the task, counted by its type.

A workload that calls an outside service says how long that service takes to answer
(`outside_service_ms`); bench then starts one (bench/services/outside_service.py) and gives its URL
to the workload in every worker as `service_url`.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Iterator

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from bench.errors import BenchError

ASYNC, SYNC = "async", "sync"
"""The two kinds of task body, and of architecture engine."""


class Workload:
    """Base class: subclasses give a task body (`statements`, or `run_async` and/or `run_sync`)."""

    name: ClassVar[str] = ""
    """How results name it; a class without one is named by its class name."""
    defaults: ClassVar[dict[str, Any]] = {}
    """Default values of the workload's parameters (profile `workload_params` overrides them)."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(self, table_rows: int, params: dict[str, Any] | None = None, service_url: str | None = None) -> None:
        self.table_rows = table_rows
        self.service_url = service_url
        """The outside service's URL, in a run that started one for it."""
        unknown = set(params or {}) - set(self.defaults)
        if unknown:
            raise BenchError(f"workload {self.name!r} has no parameter(s) {', '.join(sorted(unknown))}")
        self.params = {**self.defaults, **(params or {})}

    @classmethod
    def bodies(cls) -> set[str]:
        """The task bodies it gives: ASYNC, SYNC, both (a `statements` workload), or none."""
        if cls.statements is not Workload.statements:
            return {ASYNC, SYNC}
        return ({ASYNC} if cls.run_async is not Workload.run_async else set()) | (
            {SYNC} if cls.run_sync is not Workload.run_sync else set()
        )

    def setup(self, connection: Connection) -> None:
        """Nothing by default: the tables the body uses exist already."""

    def outside_service_ms(self) -> float | None:
        """How long the outside service its body calls takes to answer; None: it calls none."""
        return None

    def statements(self, rng: random.Random) -> Iterator[Executable]:
        raise NotImplementedError

    async def run_async(self, session: AsyncSession, rng: random.Random) -> None:
        for statement in self.statements(rng):
            result = await session.execute(statement)
            if _returns_rows(statement):
                result.all()

    def run_sync(self, session: Session, rng: random.Random) -> None:
        for statement in self.statements(rng):
            result = session.execute(statement)
            if _returns_rows(statement):
                result.all()

    def prepare(self, database_url: str) -> None:
        """`setup` through an admin connection, before the run."""
        from bench.engines import admin_engine

        engine = admin_engine(database_url)
        try:
            with engine.begin() as connection:
                self.setup(connection)
        finally:
            engine.dispose()

    def pgbench_script(self) -> str | None:
        """The task body as a pgbench script (one transaction), for the database-cost cross-check;
        None where the workload has none."""
        return None


def run_sync(session_factory: sessionmaker, workload: Workload, rng: random.Random) -> None:
    """One task through a sync Session: the workload's sync body, committed after it (rolled back
    when it raises, as the session closes)."""
    with session_factory() as session:
        workload.run_sync(session, rng)
        session.commit()


async def run_async(session_factory: async_sessionmaker, workload: Workload, rng: random.Random) -> None:
    """One task through an AsyncSession, the shape of the recipe's `_run()`: the async body, committed after it."""
    async with session_factory() as session:
        await workload.run_async(session, rng)
        await session.commit()


def _returns_rows(statement: Executable) -> bool:
    return bool(getattr(statement, "is_select", False) or getattr(statement, "_returning", None))
