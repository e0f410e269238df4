"""The one place that builds SQLAlchemy engines for workers, each with the connect-time probe attached.

Every worker connection carries application_name "bench:<architecture>", which is how the
connection sampler tells the benchmark's connections from its own and from anyone else's.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bench.probes import connect_timer

APPLICATION_PREFIX = "bench:"


def application_name(architecture: str) -> str:
    return f"{APPLICATION_PREFIX}{architecture}"


def driver_url(url: str, driver: str) -> URL:
    """The database URL with SQLAlchemy's driver name set ("asyncpg", "psycopg"). libpq's
    `sslmode` (which psycopg and bench's own connections read) becomes asyncpg's `ssl`."""
    parsed = make_url(url).set(drivername=f"postgresql+{driver}")
    if driver == "asyncpg" and "sslmode" in parsed.query:
        mode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
    return parsed


def async_nullpool_engine(
    url: str, architecture: str, instrumented: bool = True, behind_pgbouncer: bool = False, driver: str = "asyncpg"
) -> AsyncEngine:
    """The recipe's Celery engine: asyncpg, NullPool, so each session opens and closes its own connection.

    `behind_pgbouncer`: the two settings SQLAlchemy's asyncpg dialect documents for PgBouncer's
    transaction pooling, which (before PgBouncer 1.21; Debian 12 has 1.18) hands each transaction
    whatever server connection is free, prepared statements or not. asyncpg names its statements
    __asyncpg_stmt_1__, _2__... per client connection, so two clients meet the same names on one
    server connection ("prepared statement ... already exists"): a unique name per statement avoids
    that, and no statement cache means none is looked for on a connection that never prepared it.

    `driver="psycopg"`: psycopg 3's async connection instead of asyncpg, nothing else changed (it
    prepares a statement only on its fifth run on one connection, so never under NullPool).
    """
    if driver == "psycopg":
        connect_args: dict = {"application_name": application_name(architecture)}
    else:
        connect_args = {"server_settings": {"application_name": application_name(architecture)}}
    if behind_pgbouncer:
        connect_args.update(statement_cache_size=0, prepared_statement_name_func=lambda: f"__asyncpg_{uuid.uuid4()}__")
    engine = create_async_engine(driver_url(url, driver), poolclass=NullPool, connect_args=connect_args)
    return _instrumented(engine, instrumented)


def async_pooled_engine(
    url: str, architecture: str, pool_size: int, max_overflow: int, instrumented: bool = True
) -> AsyncEngine:
    """asyncpg with SQLAlchemy's default async pool (AsyncAdaptedQueuePool)."""
    engine = create_async_engine(
        driver_url(url, "asyncpg"),
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"server_settings": {"application_name": application_name(architecture)}},
    )
    return _instrumented(engine, instrumented)


def sync_pooled_engine(
    url: str, architecture: str, pool_size: int, max_overflow: int, instrumented: bool = True
) -> Engine:
    """psycopg 3 with a QueuePool."""
    engine = create_engine(
        driver_url(url, "psycopg"),
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"application_name": application_name(architecture)},
    )
    return _instrumented(engine, instrumented)


def _instrumented(engine, instrumented: bool):
    if instrumented:
        connect_timer.instrument(getattr(engine, "sync_engine", engine))
    return engine


def admin_engine(url: str) -> Engine:
    """A sync engine for bench's own setup work (schema, seed), outside every measurement."""
    return create_engine(
        driver_url(url, "psycopg"), poolclass=NullPool, connect_args={"application_name": "bench-setup"}
    )
