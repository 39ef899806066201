"""Requests per minute across a fleet: two apps (two nodes) built on the same settings, sharing
one database, counting in one Redis (`server.rate_limit_storage`); with the memory:// default
each node counts its own; a Redis that cannot be reached lets requests through (fail open)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis

from pipelines.platform.accounts.settings import TenantQuotas
from pipelines.settings import ServerSettings
from server.errors import APIError
from server.limits import RateLimiter
from tests.fixtures_jobs import build_app, serve_in_process
from tests.fixtures_redis import free_port
from tests.fixtures_server import assert_error
from tests.fixtures_tenancy import Deployment, tenancy_settings, write_config

PER_MINUTE = 20


@asynccontextmanager
async def fleet(
    tmp_path: Path, storage_url: str
) -> AsyncIterator[tuple[Deployment, list[httpx.AsyncClient]]]:
    """Two nodes' clients, and the deployment whose keys (shop-a, shop-b) both accept; every
    tenant may make PER_MINUTE requests a minute."""
    settings = tenancy_settings(tmp_path, defaults=TenantQuotas(requests_per_minute=PER_MINUTE))
    settings = settings.model_copy(
        update={"server": ServerSettings(rate_limit_storage=storage_url)}
    )
    deployment = Deployment(settings, write_config(settings, tmp_path / "config.yaml"))
    for tenant in ("shop-a", "shop-b"):
        await deployment.create_key(tenant)
    async with AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(serve_in_process(build_app(settings))) for _ in range(2)
        ]
        yield deployment, nodes


@pytest.mark.parametrize(
    ("storage", "admitted"), [("redis", PER_MINUTE), ("memory", 2 * PER_MINUTE)]
)
async def test_concurrent_requests_over_two_nodes_share_the_tenants_quota(
    tmp_path: Path, request: pytest.FixtureRequest, storage: str, admitted: int
) -> None:
    url = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    async with fleet(tmp_path, url) as (d, nodes):
        responses = await asyncio.gather(
            *(nodes[i % 2].get("/v1/jobs", headers=d.auth("shop-a")) for i in range(50))
        )
        ok = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert len(ok) == admitted, [r.status_code for r in responses]
        for response in refused:
            error = assert_error(response, 429, "rate_limit_exceeded")
            assert f"{PER_MINUTE} requests per minute" in error["message"]
            assert int(response.headers["retry-after"]) >= 1
        # another tenant's count is its own, on either node
        for node in nodes:
            assert (await node.get("/v1/jobs", headers=d.auth("shop-b"))).status_code == 200


async def test_an_unreachable_redis_lets_requests_through_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="server.limits")
    async with fleet(tmp_path, nobody) as (d, nodes):
        for _ in range(PER_MINUTE + 5):
            response = await nodes[0].get("/v1/jobs", headers=d.auth("shop-a"))
            assert response.status_code == 200, response.text
    warnings = [r.getMessage() for r in caplog.records if r.name == "server.limits"]
    assert len(warnings) == 1, warnings
    assert "requests are not limited" in warnings[0]


def test_the_storage_setting_takes_memory_or_redis_urls_only() -> None:
    assert ServerSettings().rate_limit_storage == "memory://"
    assert ServerSettings(rate_limit_storage="redis://10.0.0.5:6379/1").rate_limit_storage
    with pytest.raises(ValueError, match="rate_limit_storage"):
        ServerSettings(rate_limit_storage="postgresql://db/limits")


async def test_a_stalled_redis_fails_open_then_limits_again_once_it_answers(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RateLimiter(redis_url, retry_s=0)  # ask Redis again on every request
    operator = redis.Redis.from_url(redis_url)
    caplog.set_level(logging.WARNING, logger="server.limits")
    try:
        await limiter.admit("shop-a", 1)
        operator.execute_command("CLIENT", "PAUSE", 20000, "WRITE")  # counts nothing meanwhile
        try:
            await limiter.admit("shop-a", 1)  # over its quota, but Redis does not answer
        finally:
            operator.execute_command("CLIENT", "UNPAUSE")
        with pytest.raises(APIError) as refused:
            await limiter.admit("shop-a", 1)
        assert refused.value.code == "rate_limit_exceeded" and refused.value.retry_after
    finally:
        operator.close()
        await limiter.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "server.limits"]
    assert len(warnings) == 2 and "reachable again" in warnings[1], warnings
