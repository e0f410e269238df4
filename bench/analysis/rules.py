"""The rules the analyses share: which architecture is the recipe, which are traps, and what it
means for a step to have kept up with its arrivals."""

from __future__ import annotations

import functools

RECIPE = "prefork-nullpool"
RECIPE_PSYCOPG = "prefork-nullpool-psycopg"
"""The recipe with psycopg 3's async driver: its round trips differ (bench/analysis/model.py)."""
PGBOUNCER = "prefork-nullpool-pgbouncer"
PGBOUNCER_DISCARD = "prefork-nullpool-pgbouncer-discard"
"""The recipe behind PgBouncer, and the same with DISCARD ALL after every transaction."""
ASYNC_QUEUE = "async-queue"
"""The taskiq baseline: it runs on Redis only."""


@functools.cache
def traps() -> frozenset[str]:
    """Architectures measured to show a failure mode, never recommended (their class's `trap`)."""
    from bench.architectures import architecture_classes

    return frozenset(name for name, cls in architecture_classes().items() if cls.trap)
