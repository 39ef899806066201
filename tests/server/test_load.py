"""Load: 200 concurrent streaming chats against a real server. No 5xx; every stream ends cleanly."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_server import make_settings
from tests.live import live_server

CLIENTS = 200
QUEUE = 48


async def test_200_concurrent_streams_end_with_done_or_a_clean_429(
    tmp_path: Path, tiny_chat_spec: ModelSpec
) -> None:
    app = create_app(make_settings(tmp_path, [tiny_chat_spec], max_inflight_per_model=QUEUE))
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": "Describe a bamboo toothbrush"}],
        "max_tokens": 8,
        "stream": True,
    }

    async def one(client: httpx.AsyncClient) -> tuple[int, bool, str | None]:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            lines = [line async for line in response.aiter_lines() if line]
        ended = bool(lines) and lines[-1] == "data: [DONE]"
        return response.status_code, ended, response.headers.get("retry-after")

    with live_server(app) as url:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
            results = await asyncio.wait_for(
                asyncio.gather(*(one(client) for _ in range(CLIENTS))), timeout=600
            )
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] >= QUEUE  # the queue was used to the full
    assert all(ended for status, ended, _ in results if status == 200)
    assert all(retry == "1" for status, _, retry in results if status == 429)
