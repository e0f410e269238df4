"""What every server bench starts shares: a context manager that is running on entry and leaves
nothing on exit (its process group stopped, its temporary folder deleted), whatever the exit."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from bench.errors import BenchError
from bench.processes import ChildProcess, wait_for

log = logging.getLogger(__name__)


class ManagedServer:
    """Subclasses set `name` (as in logs: "started NAME pid=..."), `title` (as in messages) and
    implement `_start`, which makes `self._dir` and calls `_launch`."""

    name = "server"
    title = "server"
    stop_signal = signal.SIGTERM
    stop_grace_s = 10.0

    def __init__(self, work_dir: Path, cpus: str | None = None) -> None:
        self.cpus = cpus
        """CPU list the server and every process it forks run on; None: anywhere."""
        self._work_dir = work_dir
        self._process: ChildProcess | None = None
        self._dir: str | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def process(self) -> ChildProcess | None:
        return self._process

    @property
    def log_path(self) -> Path:
        return self._work_dir / f"{self.name}.log"

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stop_process()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _start(self) -> None:
        raise NotImplementedError

    def _make_dir(self, prefix: str) -> str:
        self._dir = tempfile.mkdtemp(prefix=prefix)
        return self._dir

    def _launch(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        timeout_s: float,
        details: str = "",
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        """Start the server process and wait until `ready()`; a process that exits meanwhile fails at once."""
        process = self._process = ChildProcess(
            self.name, argv, log_path=self.log_path, user=user, cpus=self.cpus, env=env, cwd=cwd
        )
        log.info(f"started {self.name} pid={process.pid} {details}".rstrip())

        def settled() -> bool:
            if not process.alive():
                raise BenchError(f"the managed {self.title} exited at start; see {self.log_path}")
            return ready()

        if not wait_for(settled, timeout_s=timeout_s, interval_s=0.1):
            raise BenchError(f"the managed {self.title} did not start; see {self.log_path}")

    def _stop_process(self, why: str = "") -> None:
        if self._process:
            self._process.stop(first_signal=self.stop_signal, grace_s=self.stop_grace_s)
            log.info(f"stopped {self.name} pid={self._process.pid}{why}")
            self._process = None
