"""A chat completion whose client disconnects stops generating at once and frees its model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from pipelines.settings import ServerSettings
from tests.fixtures_jobs import KEYS, auth, build_app, job_test_settings, parrot, scripted_spec
from tests.fixtures_server import wait_until
from tests.live import live_server


async def test_a_chat_completion_whose_client_leaves_stops_generating(tmp_path: Path) -> None:
    stats: dict[str, Any] = {}
    settings = job_test_settings(tmp_path, [scripted_spec(parrot, stats=stats, delay_s=30.0)])
    server = ServerSettings(
        api_keys=[{"key": key, "tenant": tenant} for tenant, key in KEYS.items()],
        max_inflight_per_model=1,
    )
    app = build_app(settings.model_copy(update={"server": server}))
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    with live_server(app) as url:
        async with httpx.AsyncClient(base_url=url, headers=auth("shop-a"), timeout=60) as client:
            first = asyncio.create_task(client.post("/v1/chat/completions", json=body))
            await wait_until(lambda: stats.get("in_flight", 0) >= 1, "the request generates")
            first.cancel()  # the client gives up: its connection closes
            await wait_until(lambda: stats["in_flight"] == 0, "its generation stops")
            second = asyncio.create_task(client.post("/v1/chat/completions", json=body))
            await wait_until(lambda: stats["in_flight"] >= 1, "the next request is admitted")
            assert not second.done()  # generating, not refused with a 429
            second.cancel()
            await wait_until(lambda: stats["in_flight"] == 0, "the second generation stops")
