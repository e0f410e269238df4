"""The recipe, written the way its post shows it, with nothing of bench in it.

A Celery app, an async engine with `poolclass=NullPool` for Celery, a session maker, an async `_run`
that reads one row, and a sync task that returns `async_to_sync(_run)(...)`. Celery's defaults
otherwise. Started as a team starts it:

    DATABASE_URL=postgresql+asyncpg://... CELERY_BROKER_URL=redis://... \
        celery -A recipe_app worker --concurrency 2 --queues items --loglevel WARNING

benchmarks/bare_drain.py fills the queue with `send_task("recipe_app.read_item", args=[id])`.
"""

import os

from asgiref.sync import async_to_sync
from celery import Celery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from models import Item

celery_app = Celery("recipe_app", broker=os.environ["CELERY_BROKER_URL"])

# Celery-specific engine with NO POOL (the recipe's step 1)
celery_engine = create_async_engine(os.environ["DATABASE_URL"], poolclass=NullPool)
AsyncCelerySession = async_sessionmaker(celery_engine, expire_on_commit=False)


async def _run(item_id: int) -> str:
    async with AsyncCelerySession() as session:
        result = await session.execute(select(Item.payload).where(Item.id == item_id))
        return result.scalar_one()


@celery_app.task(name="recipe_app.read_item", acks_late=True)
def read_item(item_id: int) -> str:
    return async_to_sync(_run)(item_id)
