"""prefork-nullpool-psycopg: the recipe with psycopg 3's async driver instead of asyncpg.

The recipe's workers unchanged (the same module, the same task) except the URL's driver
(`postgresql+psycopg`): Celery prefork, each task `async_to_sync(_run)()`, an async engine with
NullPool, so every task opens and closes its own connection, through libpq instead of asyncpg's own
protocol code. Its connect cost is measured, not assumed to be asyncpg's.
"""

from __future__ import annotations

from bench.architectures.prefork_nullpool import PreforkNullPool, app, run_task  # noqa: F401


class PreforkNullPoolPsycopg(PreforkNullPool):
    name = "prefork-nullpool-psycopg"
    adoption_note = "a driver change (psycopg)"
    color = "#e377c2"
    description = "the recipe with psycopg 3's async driver (postgresql+psycopg) instead of asyncpg"
    driver = "psycopg"
