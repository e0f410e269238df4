"""send_email: the job the recipe was written for: read a row, call an outside service, write a row.

Each task loads a `Recipient` through the ORM, posts the email to the outside service (a server bench
starts, answering after `service_ms`, default 100 ms) with httpx, and records an `EmailSent` row. The
task mostly waits: how many tasks wait at once (one per prefork process; many per gevent or asyncio
worker) decides the rate, not the connection set-up.

`session_spans_call` (default false) keeps the session's transaction, and so its connection, open
across the call: the common mistake that turns many waiting tasks into as many connections held.
With false the read is committed before the call, which gives the connection back (to the pool, or
closes it under NullPool) and the write takes one again.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import ssl

import httpx
from sqlalchemy import Connection, DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench.workload import Workload

CALL_TIMEOUT_S = 10.0
"""Longer than any answer of the service, shorter than the task time limit is not needed: a call that
outlasts the task's limit fails the task by that limit."""


class Base(DeclarativeBase):
    pass


class Recipient(Base):
    __tablename__ = "bench_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200))


class EmailSent(Base):
    __tablename__ = "bench_emails_sent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("bench_recipients.id"))
    status: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


_tls = None
_sync_client: tuple[int, httpx.Client] | None = None


def _no_tls() -> ssl.SSLContext:
    """One TLS context per process for every client: the service is plain HTTP, and httpx would
    otherwise load the CA bundle for each client made (milliseconds of CPU a task would not pay)."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


def sync_client() -> httpx.Client:
    """This process's sync client, kept for its keep-alive connections (gevent patches its sockets);
    made after the fork, never shared across one."""
    global _sync_client
    if _sync_client is None or _sync_client[0] != os.getpid():
        _sync_client = (
            os.getpid(),
            httpx.Client(verify=_no_tls(), timeout=CALL_TIMEOUT_S, limits=httpx.Limits(max_connections=None)),
        )
    return _sync_client[1]


class SendEmail(Workload):
    name = "send_email"
    defaults = {"service_ms": 100.0, "session_spans_call": False}

    def outside_service_ms(self) -> float:
        return float(self.params["service_ms"])

    def setup(self, connection: Connection) -> None:
        Base.metadata.drop_all(connection)
        Base.metadata.create_all(connection)
        connection.execute(
            text(
                "INSERT INTO bench_recipients (id, email) "
                "SELECT g, 'user' || g || '@example.com' FROM generate_series(1, :rows) AS g"
            ),
            {"rows": self.table_rows},
        )
        connection.execute(text("ANALYZE bench_recipients"))

    def _message(self, recipient: Recipient) -> dict:
        return {"to": recipient.email, "subject": "Your weekly digest", "body": "..."}

    async def run_async(self, session: AsyncSession, rng: random.Random) -> None:
        recipient = await session.get(Recipient, rng.randint(1, self.table_rows))
        if not self.params["session_spans_call"]:
            await session.commit()  # the connection goes back before the wait
        # A client per task: in the recipe every task runs in a loop of its own, which a client's
        # connections are bound to.
        async with httpx.AsyncClient(verify=_no_tls(), timeout=CALL_TIMEOUT_S) as client:
            answer = await client.post(self.service_url, json=self._message(recipient))
        answer.raise_for_status()
        session.add(EmailSent(recipient_id=recipient.id, status=answer.status_code))

    def run_sync(self, session: Session, rng: random.Random) -> None:
        recipient = session.get(Recipient, rng.randint(1, self.table_rows))
        if not self.params["session_spans_call"]:
            session.commit()
        answer = sync_client().post(self.service_url, json=self._message(recipient))
        answer.raise_for_status()
        session.add(EmailSent(recipient_id=recipient.id, status=answer.status_code))
