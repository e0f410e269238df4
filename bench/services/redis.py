"""A throwaway Redis for one run (the broker): a free loopback port, no persistence, stopped on exit."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import redis

from bench.errors import BenchError
from bench.processes import ChildProcess, wait_for
from bench.services.binaries import redis_server_binary
from bench.services.urls import free_loopback_port, redact_url


class ManagedRedis:
    """Context manager: a running redis-server on entry, nothing left of it on exit."""

    def __init__(self, work_dir: Path, log=print, cpus: str | None = None) -> None:
        self.port = free_loopback_port()
        self.cpus = cpus
        self._work_dir = work_dir
        self._log = log
        self._process: ChildProcess | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def process(self) -> ChildProcess | None:
        return self._process

    def __enter__(self) -> "ManagedRedis":
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._process:
            self._process.stop(grace_s=10)
            self._log(f"stopped redis pid={self._process.pid}")
            self._process = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _start(self) -> None:
        binary = redis_server_binary()
        self._dir = tempfile.mkdtemp(prefix="bench-redis-")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self._dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"]
        self._process = ChildProcess("redis", argv, log_path=self._work_dir / "redis.log", cpus=self.cpus)
        self._log(f"started redis pid={self._process.pid} port={self.port}")
        if not wait_for(self._answers_ping, timeout_s=15, interval_s=0.05):
            raise BenchError(f"the managed Redis did not start; see {self._work_dir / 'redis.log'}")

    def _answers_ping(self) -> bool:
        if self._process and not self._process.alive():
            raise BenchError(f"the managed Redis exited at start; see {self._work_dir / 'redis.log'}")
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


def check_broker(url: str) -> None:
    """Fail with one clear line when the given broker cannot be reached."""
    try:
        redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5).ping()
    except (redis.RedisError, ValueError) as exc:
        raise BenchError(f"cannot reach the broker at {redact_url(url)}: {exc}") from None
