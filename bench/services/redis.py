"""A throwaway Redis for one run (the broker): a free loopback port, no persistence, stopped on exit."""

from __future__ import annotations

from pathlib import Path

import redis

from bench.services.binaries import redis_server_binary
from bench.services.managed import ManagedServer
from bench.services.urls import free_loopback_port


class ManagedRedis(ManagedServer):
    """Context manager: a running redis-server on entry, nothing left of it on exit."""

    name = "redis"
    title = "Redis"

    def __init__(self, work_dir: Path, log=print, cpus: str | None = None, name: str | None = None) -> None:
        super().__init__(work_dir, log, cpus)
        self.port = free_loopback_port()
        if name:
            self.name = name  # a second Redis of the run (the control channel) logs under its own name

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> None:
        binary = redis_server_binary()
        directory = self._make_dir("bench-redis-")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"]
        self._launch(argv, self._answers_ping, timeout_s=15, details=f"port={self.port}")

    def _answers_ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

