"""URL helpers: redaction (no password is ever written out), addresses, free ports."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

from bench.errors import BenchError

BROKER_KINDS = {"redis": "redis", "rediss": "redis", "amqp": "rabbitmq", "pyamqp": "rabbitmq"}
"""A broker URL's scheme: the kind of broker it names."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for logs, results and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_address(url: str, host: str, port: int) -> str:
    """The URL with another host and port, user, password, path and query kept."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_kind(url: str) -> str:
    """ "redis" or "rabbitmq", from the URL's scheme."""
    scheme = urlsplit(url).scheme
    if scheme not in BROKER_KINDS:
        raise BenchError(f"the broker URL {redact_url(url)} is neither redis:// nor amqp://")
    return BROKER_KINDS[scheme]
