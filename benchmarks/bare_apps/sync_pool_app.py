"""Plain sync SQLAlchemy in Celery prefork, written as the advice in public threads writes it, with
nothing of bench in it.

A module-level engine (psycopg 3, SQLAlchemy's default QueuePool) and session maker; the pool made
safe for prefork the way SQLAlchemy's documentation says ("Using Connection Pools with
Multiprocessing"): each pool process drops the parent's pool state after the fork. Celery's defaults
otherwise. Started as a team starts it:

    DATABASE_URL=postgresql+psycopg://... CELERY_BROKER_URL=redis://... \
        celery -A sync_pool_app worker --concurrency 2 --queues items --loglevel WARNING
"""

import os

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from models import Item

celery_app = Celery("sync_pool_app", broker=os.environ["CELERY_BROKER_URL"])

engine = create_engine(os.environ["DATABASE_URL"])
Session = sessionmaker(engine, expire_on_commit=False)


@worker_process_init.connect
def _fresh_pool_after_fork(**_kwargs) -> None:
    engine.dispose(close=False)


@celery_app.task(name="sync_pool_app.read_item", acks_late=True)
def read_item(item_id: int) -> str:
    with Session() as session:
        return session.execute(select(Item.payload).where(Item.id == item_id)).scalar_one()
