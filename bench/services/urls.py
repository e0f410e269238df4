"""URL helpers: redaction (no password is ever written out) and the loopback-only rule."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from bench.errors import BenchError


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


def require_loopback(url: str, what: str) -> None:
    """Refuse any target that is not on this machine: bench only ever loads loopback addresses."""
    host = urlsplit(url).hostname
    if not host:
        raise BenchError(f"the {what} URL {redact_url(url)} names no host; give a loopback host such as 127.0.0.1")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise BenchError(f"cannot resolve the {what} host {host!r}: {exc.strerror}") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise BenchError(f"the {what} host {host!r} is not a loopback address; bench only targets servers on this machine")


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
