"""prefork-nullpool-pgbouncer-discard: prefork-nullpool-pgbouncer, its PgBouncer told to DISCARD ALL.

The settings that make asyncpg work behind transaction pooling (unique statement names, no statement
cache) leave every prepared statement on the server connection that ran it, for as long as PgBouncer
keeps that connection (`server_lifetime`, an hour by default). `server_reset_query_always = 1` makes
PgBouncer run its `server_reset_query` (DISCARD ALL) after every transaction, which drops them: the
same workers, measured for what that costs per task (one more statement on the database for every
transaction, and a round trip between PgBouncer and PostgreSQL before the connection is free again).
"""

from __future__ import annotations

from bench.architectures.prefork_nullpool_pgbouncer import PreforkNullPoolPgBouncer, app, run_task  # noqa: F401


class PreforkNullPoolPgBouncerDiscard(PreforkNullPoolPgBouncer):
    name = "prefork-nullpool-pgbouncer-discard"
    color = "#17becf"
    description = "the recipe through PgBouncer, which runs DISCARD ALL after every transaction"
    pgbouncer_reset_always = True
