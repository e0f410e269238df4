"""articles_pending: the recipe's own example task, through the ORM.

A declarative `Article` model; `table_rows` articles of which a share (`pending_share`, default 5 %)
is pending. Each task does what the pattern's `_run()` does: `select(Article).where(Article.status ==
"pending")` (with a LIMIT, `limit`, default 50), `scalars().all()` and the count. Unlike a Core
statement list, loading ORM objects costs Python per row in the worker: identity map, attribute
state, one object per article.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Connection, DateTime, Index, Integer, String, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench.workload import Workload


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "bench_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("bench_articles_status", "status"),)


class ArticlesPending(Workload):
    name = "articles_pending"
    defaults = {"pending_share": 0.05, "limit": 50}

    def setup(self, connection: Connection) -> None:
        Base.metadata.drop_all(connection)
        Base.metadata.create_all(connection)
        # Every 1/pending_share-th article is pending, the rest published: the same rows every run.
        every = max(1, round(1 / self.params["pending_share"])) if self.params["pending_share"] > 0 else 0
        connection.execute(
            text(
                "INSERT INTO bench_articles (id, title, body, status) "
                "SELECT g, 'Article ' || g, repeat(md5(g::text), 8), "
                "CASE WHEN :every > 0 AND g % :every = 0 THEN 'pending' ELSE 'published' END "
                "FROM generate_series(1, :rows) AS g"
            ),
            {"rows": self.table_rows, "every": every},
        )
        connection.execute(text("ANALYZE bench_articles"))

    def _query(self):
        return select(Article).where(Article.status == "pending").limit(self.params["limit"])

    async def run_async(self, session: AsyncSession, rng: random.Random) -> int:
        articles = (await session.execute(self._query())).scalars().all()
        return len(articles)

    def run_sync(self, session: Session, rng: random.Random) -> int:
        articles = session.execute(self._query()).scalars().all()
        return len(articles)

    def pgbench_script(self) -> str:
        return (
            "BEGIN;\n"
            f"SELECT id, title, body, status, created_at FROM bench_articles WHERE status = 'pending' "
            f"LIMIT {int(self.params['limit'])};\nCOMMIT;\n"
        )
