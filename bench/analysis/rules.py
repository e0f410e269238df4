"""The rules the analyses share: which architecture is the recipe, which are traps, and what it
means for a step to have kept up with its arrivals."""

from __future__ import annotations

import functools

from bench.settings.arms import architecture_of

RECIPE = "prefork-nullpool"
RECIPE_PSYCOPG = "prefork-nullpool-psycopg"
"""The recipe with psycopg 3's async driver: its round trips differ (bench/analysis/model.py)."""
PGBOUNCER = "prefork-nullpool-pgbouncer"
PGBOUNCER_DISCARD = "prefork-nullpool-pgbouncer-discard"
"""The recipe behind PgBouncer, and the same with DISCARD ALL after every transaction."""
PGBOUNCER_NAIVE = "prefork-nullpool-pgbouncer-naive"
"""The recipe behind PgBouncer with asyncpg's defaults: only the URL changed."""
ASYNC_QUEUE = "async-queue"
"""The taskiq baseline: it runs on Redis only."""


@functools.cache
def traps() -> frozenset[str]:
    """Architectures measured to show a failure mode, never recommended (their class's `trap`)."""
    from bench.architectures import architecture_classes

    return frozenset(name for name, cls in architecture_classes().items() if cls.trap)


def trap_labels(run) -> frozenset[str]:
    """The arms of a run measured to show a failure mode, never recommended: those of a trap
    architecture, except asyncpg's defaults where every step ran behind a PgBouncer that tracks
    prepared statements (1.21 and later): there changing the URL alone is a way out, judged like any."""
    from bench.services.pgbouncer import tracks_prepared_statements

    def url_change_works(label: str) -> bool:
        versions = [row.get("pgbouncer_version") for row in run.steps if row["architecture"] == label]
        return bool(versions) and all(v and tracks_prepared_statements(str(v)) for v in versions)

    return frozenset(
        label
        for label in run.architectures
        if architecture_of(label) in traps()
        and not (architecture_of(label) == PGBOUNCER_NAIVE and url_change_works(label))
    )
