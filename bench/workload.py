"""The workload contract, and the two runners that execute any workload through a sync or an async session.

A workload is one module in the top-level `workloads/` package holding one subclass of `Workload`
with a unique `name`. It is written once:
- `setup(connection)` creates and seeds its tables (a sync SQLAlchemy connection, before the run);
- `statements(rng)` yields the SQL statements one task runs, in one transaction.
Because the task body is a sequence of statements rather than code that awaits, the same workload
runs unchanged through `run_sync` (Session) and `run_async` (AsyncSession), in every architecture.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from typing import Any, ClassVar, Iterator

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql import Executable

from bench.errors import BenchError


class Workload:
    """Base class: subclasses set `name` and implement `setup` and `statements`."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    """Default values of the workload's parameters (profile `workload_params` overrides them)."""

    def __init__(self, table_rows: int, params: dict[str, Any] | None = None) -> None:
        self.table_rows = table_rows
        unknown = set(params or {}) - set(self.defaults)
        if unknown:
            raise BenchError(f"workload {self.name!r} has no parameter(s) {', '.join(sorted(unknown))}")
        self.params = {**self.defaults, **(params or {})}

    def setup(self, connection: Connection) -> None:
        raise NotImplementedError

    def statements(self, rng: random.Random) -> Iterator[Executable]:
        raise NotImplementedError

    def pgbench_script(self) -> str | None:
        """The task body as a pgbench script (one transaction), for the database-cost cross-check;
        None where the workload has none."""
        return None


def run_sync(session_factory: sessionmaker, workload: Workload, rng: random.Random) -> None:
    """One task's body through a sync Session: one transaction holding the workload's statements."""
    with session_factory() as session, session.begin():
        for statement in workload.statements(rng):
            session.execute(statement).all() if _returns_rows(statement) else session.execute(statement)


async def run_async(session_factory: async_sessionmaker, workload: Workload, rng: random.Random) -> None:
    """One task's body through an AsyncSession, the shape of the recipe's `_run()`."""
    async with session_factory() as session, session.begin():
        for statement in workload.statements(rng):
            result = await session.execute(statement)
            if _returns_rows(statement):
                result.all()


def _returns_rows(statement: Executable) -> bool:
    return bool(getattr(statement, "is_select", False) or getattr(statement, "_returning", None))


def workload_classes() -> dict[str, type[Workload]]:
    """Every Workload subclass found in the `workloads` package, by name."""
    import workloads

    found: dict[str, type[Workload]] = {}
    for module_info in pkgutil.iter_modules(workloads.__path__):
        module = importlib.import_module(f"workloads.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Workload) and value is not Workload \
                    and value.__module__ == module.__name__:
                found[value.name] = value
    return found


def prepare_database(database_url: str, workload: Workload) -> None:
    """The workload's table, made and seeded through an admin connection."""
    from bench.engines import admin_engine

    engine = admin_engine(database_url)
    try:
        with engine.begin() as connection:
            workload.setup(connection)
    finally:
        engine.dispose()


def make_workload(name: str, table_rows: int, params: dict[str, Any] | None = None) -> Workload:
    classes = workload_classes()
    if name not in classes:
        raise BenchError(f"unknown workload {name!r} (workloads: {', '.join(sorted(classes))})")
    return classes[name](table_rows, params)
