"""A throwaway Redis for one run (the broker, or the control channel): a free loopback port, no
persistence, stopped on exit; TLS on request, with a certificate made for the run."""

from __future__ import annotations

import secrets
from pathlib import Path

import redis

from bench.services.binaries import redis_server_binary
from bench.services.certificates import self_signed_certificate
from bench.services.managed import ManagedServer
from bench.urls import free_loopback_port


class ManagedRedis(ManagedServer):
    """Context manager: a running redis-server on entry, nothing left of it on exit."""

    name = "redis"
    title = "Redis"

    def __init__(
        self,
        work_dir: Path,
        cpus: str | None = None,
        name: str | None = None,
        listen: str | None = None,
        tls: bool = False,
    ) -> None:
        super().__init__(work_dir, cpus)
        self.port = free_loopback_port()
        self.listen = listen
        """An address to listen on besides loopback; then a random password is required."""
        self._password = secrets.token_urlsafe(18) if listen else None
        self.tls = tls
        """TLS only (no plain port): clients encrypt without verifying the run's self-signed certificate."""
        if name:
            self.name = name  # a second Redis of the run (the control channel) logs under its own name

    @property
    def url(self) -> str:
        auth = f":{self._password}@" if self._password else ""
        if self.tls:
            return f"rediss://{auth}{self.listen or '127.0.0.1'}:{self.port}/0?ssl_cert_reqs=none"
        return f"redis://{auth}{self.listen or '127.0.0.1'}:{self.port}/0"

    def _start(self) -> None:
        binary = redis_server_binary()
        directory = self._make_dir("bench-redis-")
        config = Path(directory) / "redis.conf"  # the password in a file only bench can read, not on a command line
        settings = [f"requirepass {self._password}"] if self._password else []
        if self.tls:
            cert, key = self_signed_certificate(directory, "redis_tls = true")
            settings += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {cert}",
                f"tls-key-file {key}",
                "tls-auth-clients no",
            ]
        config.write_text("".join(f"{line}\n" for line in settings))
        config.chmod(0o600)
        ports = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        argv = [
            binary,
            str(config),
            *ports,
            "--bind",
            "127.0.0.1",
            *([self.listen] if self.listen else []),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ]
        self._launch(argv, self._answers_ping, timeout_s=15, details=f"port={self.port} tls={self.tls}")

    def _answers_ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False
