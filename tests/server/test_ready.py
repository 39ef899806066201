"""/ready says whether a node should get traffic: model weights, the database it answers every
request from, a fleet's task queue, and (reported only) the Redis that counts the fleet's
request rates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from server.app import create_app
from tests.fixtures_postgres import NewDatabase, upgrade_database
from tests.fixtures_server import make_settings, running
from tests.netguard import free_port


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


@asynccontextmanager
async def node(
    tmp_path: Path, database_url: str, rate_limit_storage: str = "memory://"
) -> AsyncIterator[httpx.AsyncClient]:
    """A node with no models on `database_url`, migrated first as an operator does."""
    settings = make_settings(tmp_path, [], rate_limit_storage=rate_limit_storage)
    settings.jobs.database = database_url
    await upgrade_database(database_url)
    async with running(create_app(settings)) as client:
        yield client


async def test_ready_reports_the_database_and_the_shared_rate_limit_storage(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    async with node(tmp_path, database_url, redis_url) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    # a PostgreSQL node runs its jobs through the fleet's task queue: reported with its backlog
    queue = {"queue": {"status": "ok", "waiting": 0}} if is_postgresql(database_url) else {}
    assert ready.json() == {
        "status": "ready",
        "missing_weights": [],
        "database": {"status": "ok"},
        **queue,
        "rate_limit_storage": {"status": "ok"},
    }


async def test_ready_stays_ready_without_redis_because_the_limiter_fails_open(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with node(tmp_path, database_url, dead_redis) as client:
        ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["rate_limit_storage"] == {"status": "down"}
    assert "rate limit storage does not answer" in caplog.text


async def test_ready_leaves_out_the_rate_limit_storage_a_process_keeps_in_memory(
    tmp_path: Path, database_url: str
) -> None:
    async with node(tmp_path, database_url) as client:
        body = (await client.get("/ready")).json()
    assert body["database"] == {"status": "ok"} and "rate_limit_storage" not in body


@pytest.mark.postgresql
async def test_ready_is_503_while_the_database_refuses_connections_and_200_once_back(
    tmp_path: Path, new_postgresql_database: NewDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    url = new_postgresql_database()
    server, name = url.rsplit("/", 1)
    async with node(tmp_path, url) as client:
        assert (await client.get("/ready")).status_code == 200
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
            # the node's pooled connections end as in a restart of the database server
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
            ready = await client.get("/ready")
            assert (await client.get("/health")).status_code == 200  # alive, only not ready
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        assert ready.status_code == 503, ready.text
        assert ready.json() == {
            "status": "not_ready",
            "missing_weights": [],
            "database": {"status": "down"},
            "queue": {"status": "down", "waiting": None},
        }
        assert (await client.get("/ready")).status_code == 200
    assert "the database does not answer" in caplog.text
