"""Direct /v1/translations and /v1/copywriting requests are bounded: too much work is refused up
front (400, pointing at jobs), work past the time budget is stopped (504), and a client that
disconnects stops its work and frees the model for the next request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from pipelines.languages import load_languages
from pipelines.settings import ServerSettings, Settings
from pipelines.text.settings import TextSettings
from tests.fixtures_jobs import (
    KEYS,
    auth,
    build_app,
    job_test_settings,
    parrot,
    scripted_spec,
    serve_in_process,
)
from tests.fixtures_server import assert_error, wait_until
from tests.live import live_server

PRODUCT = {"name": "Steel bottle", "materials": ["304 stainless steel"]}


def _settings(tmp: Path, stats: dict[str, Any], **text: Any) -> Settings:
    settings = job_test_settings(tmp, [scripted_spec(parrot, stats=stats, delay_s=30.0)])
    server = ServerSettings(
        api_keys=[{"key": key, "tenant": tenant} for tenant, key in KEYS.items()],
        max_inflight_per_model=1,
    )
    return settings.model_copy(update={"text": TextSettings(**text), "server": server})


async def test_a_request_needing_too_many_generations_is_refused_and_pointed_at_jobs(
    tmp_path: Path,
) -> None:
    stats: dict[str, Any] = {}
    languages = load_languages().codes()[:40]
    body = {"text": "Steel bottle, 500 ml", "target_languages": languages}
    async with serve_in_process(build_app(_settings(tmp_path, stats))) as client:
        refused = await client.post("/v1/translations", json=body, headers=auth("shop-a"))
        error = assert_error(refused, 400, "too_much_work")
        # 40 languages x (3 attempts + 2 to back-translate each translation)
        assert "200 generations" in error["message"] and "POST /v1/jobs" in error["message"]
        copy = {"product": PRODUCT, "target_languages": languages[:20], "max_attempts": 6}
        assert_error(
            await client.post("/v1/copywriting", json=copy, headers=auth("shop-a")),
            400,
            "too_much_work",
        )
        assert not stats.get("calls")  # refused before any generation
        job = await client.post(
            "/v1/jobs", json={"type": "translation", "input": body}, headers=auth("shop-a")
        )
        assert job.status_code == 200, job.text  # the same work is welcome as a job


async def test_a_request_past_its_time_budget_is_stopped_with_504(tmp_path: Path) -> None:
    stats: dict[str, Any] = {}
    settings = _settings(tmp_path, stats, direct_timeout_s=0.5)
    async with serve_in_process(build_app(settings)) as client:
        body = {"product": PRODUCT, "target_languages": ["en"]}
        late = await client.post("/v1/copywriting", json=body, headers=auth("shop-a"))
        assert "0.5 s" in assert_error(late, 504, "timeout")["message"]
        assert stats["in_flight"] == 0  # the generation was cancelled, not left running


async def test_a_client_that_disconnects_frees_the_model_for_the_next_request(
    tmp_path: Path,
) -> None:
    stats: dict[str, Any] = {}
    app = build_app(_settings(tmp_path, stats))
    body = {"product": PRODUCT, "target_languages": ["en", "zh"]}
    with live_server(app) as url:
        async with httpx.AsyncClient(base_url=url, headers=auth("shop-a"), timeout=60) as client:
            first = asyncio.create_task(client.post("/v1/copywriting", json=body))
            await wait_until(lambda: stats.get("in_flight", 0) >= 1, "the first request generates")
            busy = await client.post(
                "/v1/chat/completions",
                json={"model": "scripted", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert_error(busy, 429)  # the first request holds the model's only place
            first.cancel()  # the client gives up: its connection closes
            await wait_until(lambda: stats["in_flight"] == 0, "the first request's work stops")
            calls = len(stats["calls"])
            second = asyncio.create_task(client.post("/v1/copywriting", json=body))
            await wait_until(lambda: stats["in_flight"] >= 1, "the next request is admitted")
            assert not second.done()  # admitted and generating, not refused with a 429
            assert len(stats["calls"]) > calls
            second.cancel()
            await wait_until(lambda: stats["in_flight"] == 0, "the second request's work stops")
