"""point_select: each task reads one random row by primary key.

Models the most common background-task database call: a short indexed lookup. The query itself is
cheap, so the cost of getting a connection dominates what differs between architectures.
"""

from __future__ import annotations

import random
from typing import Iterator

from sqlalchemy import Column, Connection, Integer, MetaData, Table, Text, select, text
from sqlalchemy.sql import Executable

from bench.workload import Workload

metadata = MetaData()
items = Table(
    "bench_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", Text, nullable=False),
)


class PointSelect(Workload):
    name = "point_select"

    def setup(self, connection: Connection) -> None:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        connection.execute(
            text("INSERT INTO bench_items (id, payload) SELECT g, md5(g::text) FROM generate_series(1, :rows) AS g"),
            {"rows": self.table_rows},
        )
        connection.execute(text("ANALYZE bench_items"))

    def statements(self, rng: random.Random) -> Iterator[Executable]:
        yield select(items.c.payload).where(items.c.id == rng.randint(1, self.table_rows))

    def pgbench_script(self) -> str:
        return (
            f"\\set id random(1, {self.table_rows})\nBEGIN;\nSELECT payload FROM bench_items WHERE id = :id;\nCOMMIT;\n"
        )
