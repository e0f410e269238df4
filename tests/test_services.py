import os

import psutil
import psycopg
import pytest
import redis

from bench.errors import BenchError
from bench.services import running_services
from bench.services.postgres import check_database
from bench.urls import redact_url


def test_managed_servers_run_with_the_asked_settings_and_leave_nothing(tmp_path, child_processes):
    with running_services(tmp_path, max_connections=37) as services:
        pids = services.managed_pids()
        with psycopg.connect(services.database_url) as conn:
            assert conn.execute("SHOW max_connections").fetchone()[0] == "37"
            assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        assert redis.Redis.from_url(services.broker_url).ping()
        assert all(psutil.pid_exists(pid) for pid in pids.values())
    assert not any(psutil.pid_exists(pid) for pid in pids.values())
    assert not os.path.exists(data_dir)


def test_managed_postgres_refuses_a_wrong_password(services):
    wrong = services.database_url.replace(services.postgres.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_redact_url_hides_the_password_only():
    assert redact_url("postgresql://bench:pw@127.0.0.1:5432/db?x=1") == "postgresql://bench:***@127.0.0.1:5432/db?x=1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_unreachable_database_is_one_clear_error():
    with pytest.raises(BenchError, match=r"cannot reach the database at postgresql://u:\*\*\*@127.0.0.1:1/db"):
        check_database("postgresql://u:pw@127.0.0.1:1/db")


def test_managed_postgres_with_tls_encrypts_bench_and_worker_connections(tmp_path, child_processes):
    import asyncio

    from sqlalchemy import text

    from bench.engines import async_nullpool_engine, sync_pooled_engine

    ssl_query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    with running_services(tmp_path, ssl=True) as services:
        assert "sslmode=require" in services.database_url
        with psycopg.connect(services.database_url) as conn:
            assert conn.execute(ssl_query).fetchone()[0] is True

        async def via_asyncpg() -> bool:
            engine = async_nullpool_engine(services.database_url, "t")
            async with engine.connect() as conn:
                encrypted = (await conn.execute(text(ssl_query))).scalar()
            await engine.dispose()
            return encrypted

        assert asyncio.run(via_asyncpg()) is True
        engine = sync_pooled_engine(services.database_url, "t", 1, 0)
        with engine.connect() as conn:
            assert conn.execute(text(ssl_query)).scalar() is True
        engine.dispose()


def test_managed_postgres_with_trust_lets_any_password_in(tmp_path, child_processes):
    with running_services(tmp_path, auth="trust") as services:
        wrong = services.database_url.replace(services.postgres.password, "anything")
        with psycopg.connect(wrong) as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to give two roles one each")
def test_a_cpu_set_applies_to_the_server_and_every_backend_it_forks(tmp_path, child_processes):
    with running_services(tmp_path, cpus={"db": "0", "broker": "1"}) as services:
        with psycopg.connect(services.database_url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert os.sched_getaffinity(backend) == {0}
        assert os.sched_getaffinity(services.postgres.pid) == {0}
        assert os.sched_getaffinity(services.broker_server.pid) == {1}


def test_managed_redis_with_tls_takes_tls_only(tmp_path, child_processes):
    from bench.services.redis import ManagedRedis

    with ManagedRedis(tmp_path, tls=True) as server:
        assert server.url.startswith("rediss://") and server.url.endswith("?ssl_cert_reqs=none")
        assert redis.Redis.from_url(server.url, socket_timeout=5).ping()
        plain = server.url.replace("rediss://", "redis://").split("?")[0]
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(plain, socket_timeout=2, socket_connect_timeout=2).ping()
