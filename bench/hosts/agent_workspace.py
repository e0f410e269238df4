"""What `bench worker` and `bench loadgen` share on their host: a temporary folder of their own and a
timestamped log (bench's log lines, as bench.log is to a run), kept where the user asks; the folder
is removed at the end."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from bench.logfile import log_to


@contextlib.contextmanager
def agent_workspace(prefix: str, log_dir: Path | None, log_name: str) -> Iterator[tuple[Path, Path]]:
    """(work folder, log folder), with bench's log going to `log_name` in the log folder; the work
    folder is removed on the way out, with the logs when they live in it (no `log_dir` given)."""
    work_dir = Path(tempfile.mkdtemp(prefix=prefix))
    logs = log_dir or work_dir
    logs.mkdir(parents=True, exist_ok=True)
    try:
        with log_to(logs / log_name):
            yield work_dir, logs
    finally:
        # Also with the logs elsewhere: the work folder then holds only what the agent made for the run.
        shutil.rmtree(work_dir, ignore_errors=True)
