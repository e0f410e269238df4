"""write_txn: one transaction that inserts a row and updates a counter row chosen at random.

Models the typical write of a background job (record an event, bump an aggregate): a commit
with WAL flush per task, and row locks that concurrent tasks can contend on.
"""

from __future__ import annotations

import random
from typing import Iterator

from sqlalchemy import BigInteger, Column, Connection, DateTime, Integer, MetaData, Table, func, text
from sqlalchemy.sql import Executable

from bench.workload import Workload

metadata = MetaData()
counters = Table(
    "bench_counters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False, server_default="0"),
)
events = Table(
    "bench_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("counter_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class WriteTxn(Workload):
    name = "write_txn"

    def setup(self, connection: Connection) -> None:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        connection.execute(
            text("INSERT INTO bench_counters (id, value) SELECT g, 0 FROM generate_series(1, :rows) AS g"),
            {"rows": self.table_rows},
        )
        connection.execute(text("ANALYZE bench_counters"))

    def statements(self, rng: random.Random) -> Iterator[Executable]:
        counter_id = rng.randint(1, self.table_rows)
        yield events.insert().values(counter_id=counter_id)
        yield counters.update().where(counters.c.id == counter_id).values(value=counters.c.value + 1)
