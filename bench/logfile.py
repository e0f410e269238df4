"""The log files a person reads after the fact: bench.log of a run, agent.log of `bench worker` and
`bench loadgen`.

Every bench module logs to its own `logging.getLogger(__name__)`, which sits under the "bench" logger;
`log_to` points that logger at one file for as long as a run (or an agent) lasts. Outside it, as in
tests that start a server alone, bench's INFO lines go nowhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import Iterator

ROOT = "bench"


class _LocalTimestamp(logging.Formatter):
    """`2026-11-30T16:25:09.123 message`: the local time to the millisecond, as bench has always written."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds")
        return f"{when} {record.getMessage()}"


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Append bench's log lines (INFO and up) to `path` until the block ends."""
    logger = logging.getLogger(ROOT)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_LocalTimestamp())
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    # The file is the place for these lines: not also an application's root handlers.
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.close()
