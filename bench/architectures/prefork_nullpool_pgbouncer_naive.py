"""prefork-nullpool-pgbouncer-naive: the recipe pointed at PgBouncer with nothing else changed.

Measured for the error a team meets when it only changes the URL: asyncpg's default statement
cache and names meet PgBouncer 1.18's transaction pooling (see `engines.async_nullpool_engine`).
Never recommended; the same workers as `prefork-nullpool-pgbouncer`, without its two settings.
"""

from __future__ import annotations

from bench.architectures.prefork_nullpool_pgbouncer import PreforkNullPoolPgBouncer, app, run_task  # noqa: F401


class PreforkNullPoolPgBouncerNaive(PreforkNullPoolPgBouncer):
    name = "prefork-nullpool-pgbouncer-naive"
    color = "#393b79"
    trap = True  # measured to show a failure mode, never recommended
    description = "the recipe through PgBouncer with only the URL changed (the error teams meet)"
    settings_for_pgbouncer = False
