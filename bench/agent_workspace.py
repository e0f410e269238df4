"""What `bench worker` and `bench loadgen` share on their host: a temporary folder of their own and a
timestamped log, kept where the user asks or removed at the end."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def agent_workspace(prefix: str, log_dir: Path | None,
                    log_name: str) -> Iterator[tuple[Path, Path, Callable[[str], None]]]:
    """(work folder, log folder, log function); the work folder is removed on the way out unless the
    logs live in it at the user's request."""
    work_dir = Path(tempfile.mkdtemp(prefix=prefix))
    logs = log_dir or work_dir
    logs.mkdir(parents=True, exist_ok=True)
    log_file = open(logs / log_name, "a", buffering=1)

    def log(message: str) -> None:
        log_file.write(f"{dt.datetime.now().isoformat(timespec='milliseconds')} {message}\n")

    try:
        yield work_dir, logs, log
    finally:
        log_file.close()
        if log_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
