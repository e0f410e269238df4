"""A throwaway Redis for one run (the broker): a free loopback port, no persistence, stopped on exit."""

from __future__ import annotations

import secrets
from pathlib import Path

import redis

from bench.services.binaries import redis_server_binary
from bench.services.managed import ManagedServer
from bench.services.urls import free_loopback_port


class ManagedRedis(ManagedServer):
    """Context manager: a running redis-server on entry, nothing left of it on exit."""

    name = "redis"
    title = "Redis"

    def __init__(self, work_dir: Path, log=print, cpus: str | None = None, name: str | None = None,
                 listen: str | None = None) -> None:
        super().__init__(work_dir, log, cpus)
        self.port = free_loopback_port()
        self.listen = listen
        """An address to listen on besides loopback; then a random password is required."""
        self._password = secrets.token_urlsafe(18) if listen else None
        if name:
            self.name = name  # a second Redis of the run (the control channel) logs under its own name

    @property
    def url(self) -> str:
        auth = f":{self._password}@" if self._password else ""
        return f"redis://{auth}{self.listen or '127.0.0.1'}:{self.port}/0"

    def _start(self) -> None:
        binary = redis_server_binary()
        directory = self._make_dir("bench-redis-")
        config = Path(directory) / "redis.conf"  # the password in a file only bench can read, not on a command line
        config.write_text(f"requirepass {self._password}\n" if self._password else "")
        config.chmod(0o600)
        argv = [binary, str(config), "--port", str(self.port), "--bind", "127.0.0.1", *([self.listen] if self.listen else []),
                "--save", "", "--appendonly", "no",
                "--dir", directory, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"]
        self._launch(argv, self._answers_ping, timeout_s=15, details=f"port={self.port}")

    def _answers_ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

