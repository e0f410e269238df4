"""io_wait: each task holds its connection while the server sleeps (`pg_sleep`, `sleep_ms`, default 20 ms).

Models a slow query or a task that waits on I/O while holding a connection: concurrency per
process, not connection set-up, decides how many such tasks an architecture gets through.
"""

from __future__ import annotations

import random
from typing import Iterator

from sqlalchemy import Connection, func, select
from sqlalchemy.sql import Executable

from bench.workload import Workload


class IoWait(Workload):
    name = "io_wait"
    defaults = {"sleep_ms": 20}

    def setup(self, connection: Connection) -> None:
        pass  # no table: the server's sleep is the whole task

    def statements(self, rng: random.Random) -> Iterator[Executable]:
        yield select(func.pg_sleep(self.params["sleep_ms"] / 1000))
