"""prefork-nullpool-pgbouncer-naive: the recipe pointed at PgBouncer with nothing else changed.

Measured for the error a team meets when it only changes the URL: asyncpg's default statement
cache and names meet transaction pooling on a PgBouncer before 1.21 (see
`engines.async_nullpool_engine`), and is a trap there. From 1.21 (`max_prepared_statements`) PgBouncer
names the statements on its server connections itself, and where every step of the arm ran behind
such a PgBouncer the advice judges it as a way out like any (bench.analysis.rules.trap_labels).
The same workers as `prefork-nullpool-pgbouncer`, without its two settings.
"""

from __future__ import annotations

from bench.architectures.prefork_nullpool_pgbouncer import PreforkNullPoolPgBouncer, app, run_task  # noqa: F401


class PreforkNullPoolPgBouncerNaive(PreforkNullPoolPgBouncer):
    name = "prefork-nullpool-pgbouncer-naive"
    color = "#393b79"
    trap = True  # measured to show a failure mode; a way out behind PgBouncer 1.21+ (trap_labels)
    description = "the recipe through PgBouncer with only the URL changed (fails before PgBouncer 1.21)"
    settings_for_pgbouncer = False
    adoption_note = "PgBouncer in front, only the URL changed"
