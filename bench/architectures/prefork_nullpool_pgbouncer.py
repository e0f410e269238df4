"""prefork-nullpool-pgbouncer: the recipe's code unchanged, its URL pointed at PgBouncer.

What teams do first about NullPool's connect cost: keep the recipe, put PgBouncer (transaction
pooling, a managed one in front of the managed PostgreSQL) between it and the database. Each task
still opens a connection, but to PgBouncer, which hands it one of its few long-lived server
connections: client connects per task stay at 1, server sessions per task fall to about 0.
The engine carries the two settings transaction pooling needs with asyncpg (see
`engines.async_nullpool_engine`); `prefork-nullpool-pgbouncer-naive` runs without them. The
workers are the recipe's own (its module, its task).
"""

from __future__ import annotations

from bench.architectures.prefork_nullpool import PreforkNullPool
from bench.architectures.prefork_nullpool import app as app  # the workers' own (`celery -A` this module)
from bench.architectures.prefork_nullpool import run_task as run_task


class PreforkNullPoolPgBouncer(PreforkNullPool):
    name = "prefork-nullpool-pgbouncer"
    adoption_note = "PgBouncer in front"
    color = "#bcbd22"
    description = "the recipe through PgBouncer (transaction pooling), with asyncpg's settings for it"
    pgbouncer = True
    settings_for_pgbouncer = True
