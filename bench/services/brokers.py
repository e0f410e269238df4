"""What bench needs to know about a broker given by URL: which kind it is, whether it answers, its
version. Redis (`redis://`) or RabbitMQ (`amqp://`), the two brokers the Celery architectures run on."""

from __future__ import annotations

from urllib.parse import urlsplit

import amqp
import redis

from bench.errors import BenchError
from bench.urls import broker_kind, redact_url


def amqp_connection(url: str, timeout_s: float) -> amqp.Connection:
    parts = urlsplit(url)
    vhost = parts.path[1:] if len(parts.path) > 1 else "/"
    connection = amqp.Connection(
        host=f"{parts.hostname}:{parts.port or 5672}",
        userid=parts.username or "guest",
        password=parts.password or "guest",
        virtual_host=vhost or "/",
        connect_timeout=timeout_s,
    )
    connection.connect()
    return connection


def check_broker(url: str) -> None:
    """Fail with one clear line when the given broker cannot be reached."""
    try:
        if broker_kind(url) == "redis":
            redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5).ping()
        else:
            amqp_connection(url, 5).close()
    except BenchError:
        raise
    except Exception as exc:  # refused, timed out, refused login: all mean "cannot use it"
        raise BenchError(f"cannot reach the broker at {redact_url(url)}: {exc}") from None


def broker_version(url: str) -> str | None:
    """The broker's own version ("7.0.15", "RabbitMQ 3.10.8"), or None if it does not say."""
    try:
        if broker_kind(url) == "redis":
            return redis.Redis.from_url(url, socket_timeout=5).info("server").get("redis_version")
        connection = amqp_connection(url, 5)
        try:
            properties = connection.server_properties
            return f"{properties.get('product', 'RabbitMQ')} {properties.get('version', '?')}"
        finally:
            connection.close()
    except Exception:  # the version is a nicety of run.json, never a reason to fail
        return None
