"""Usage accounting per tenant over HTTP with real tiny models: the numbers /v1/usage reports are
the ones the responses themselves reported (tokens, audio seconds), per tenant and for the
operator across tenants."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.spec import ModelSpec
from pipelines.platform.accounts.usage import JOB_USAGE, job_usage
from pipelines.platform.jobs.types import JobRecord, JobState
from tests.fixtures_jobs import scripted_spec
from tests.fixtures_stt import tiny_whisper_spec
from tests.fixtures_tenancy import Deploy, Deployment


async def usage_of(d: Deployment, tenant: str) -> dict[str, Any]:
    response = await d.http.get("/v1/usage", headers=d.auth(tenant))
    assert response.status_code == 200, response.text
    totals: dict[str, Any] = response.json()["totals"]
    return totals


async def test_tokens_in_and_out_are_the_sum_of_the_responses_usage(
    deploy: Deploy, tiny_chat_spec: ModelSpec
) -> None:
    async with deploy(specs=[tiny_chat_spec]) as d:
        chat = {"model": "tiny-chat", "messages": [{"role": "user", "content": "A title"}]}
        expected = {"prompt_tokens": 0, "completion_tokens": 0}

        def add(usage: dict[str, int]) -> None:
            for name in expected:
                expected[name] += usage[name]

        whole = await d.http.post(
            "/v1/chat/completions", json={**chat, "max_tokens": 5, "n": 2}, headers=d.auth("shop-a")
        )
        assert whole.status_code == 200, whole.text
        add(whole.json()["usage"])
        legacy = await d.http.post(
            "/v1/completions",
            json={"model": "tiny-chat", "prompt": ["Bottle:", "Cup:"], "max_tokens": 3},
            headers=d.auth("shop-a"),
        )
        add(legacy.json()["usage"])
        stream = await d.http.post(
            "/v1/chat/completions",
            json={
                **chat,
                "max_tokens": 4,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            headers=d.auth("shop-a"),
        )
        events = [
            json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: {")
        ]
        add(events[-1]["usage"])
        # a stream that does not ask for usage is metered all the same
        quiet = await d.http.post(
            "/v1/chat/completions",
            json={**chat, "max_tokens": 3, "stream": True},
            headers=d.auth("shop-b"),
        )
        assert quiet.status_code == 200 and quiet.text.endswith("data: [DONE]\n\n")

        totals = await usage_of(d, "shop-a")
        assert expected["completion_tokens"] > 0
        assert totals["prompt_tokens"] == expected["prompt_tokens"]
        assert totals["completion_tokens"] == expected["completion_tokens"]
        assert totals["total_tokens"] == sum(expected.values())
        report = (await d.http.get("/v1/usage", headers=d.auth("shop-a"))).json()
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        assert [day["date"] for day in report["daily"]] == [today]
        empty = await d.http.get(
            "/v1/usage?start_date=2000-01-01&end_date=2000-01-31", headers=d.auth("shop-a")
        )
        assert empty.json()["totals"]["prompt_tokens"] == 0

        shop_b = await usage_of(d, "shop-b")
        assert 0 < shop_b["completion_tokens"] <= 3

        operator = (await d.http.get("/v1/admin/usage", headers=d.auth("ops"))).json()["data"]
        by_tenant = {item["tenant"]: item["totals"] for item in operator}
        assert by_tenant["shop-a"] == totals and by_tenant["shop-b"] == shop_b


async def test_transcribed_seconds_are_the_responses_usage_seconds(
    deploy: Deploy, tiny_whisper_dir: Path, speech_clips: dict[str, Path]
) -> None:
    async with deploy(specs=[tiny_whisper_spec(tiny_whisper_dir)]) as d:
        seconds = 0.0
        for clip in (speech_clips["wav"], speech_clips["blip"]):
            response = await d.http.post(
                "/v1/audio/transcriptions",
                files={"file": (clip.name, clip.read_bytes(), "audio/wav")},
                data={"model": "tiny-whisper", "response_format": "json"},
                headers=d.auth("shop-a"),
            )
            assert response.status_code == 200, response.text
            seconds += response.json()["usage"]["seconds"]
        totals = await usage_of(d, "shop-a")
        assert totals["audio_seconds_transcribed"] == round(seconds, 3)
        assert (await usage_of(d, "shop-b"))["audio_seconds_transcribed"] == 0


async def test_synthesized_seconds_are_the_length_of_the_audio_returned(
    deploy: Deploy, espeak_spec: ModelSpec
) -> None:
    async with deploy(specs=[espeak_spec]) as d:
        played = 0.0
        for speed in (1.0, 2.0):
            response = await d.http.post(
                "/v1/audio/speech",
                json={
                    "model": "tts-1",
                    "voice": "en",
                    "input": "Thank you for your order. It ships today.",
                    "response_format": "pcm",  # 24 kHz, 16-bit mono: the length is the bytes
                    "speed": speed,
                },
                headers=d.auth("shop-b"),
            )
            assert response.status_code == 200, response.text
            played += len(response.content) / 2 / 24000
        recorded = (await usage_of(d, "shop-b"))["audio_seconds_synthesized"]
        assert abs(recorded - played) < 0.05, (recorded, played)
        assert (await usage_of(d, "shop-a"))["audio_seconds_synthesized"] == 0


async def test_jobs_count_when_created_and_dubbing_counts_its_video_seconds(
    deploy: Deploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the slow test job stands in for a dubbing job: it "dubs" one second per step
    monkeypatch.setitem(
        JOB_USAGE, "slow", lambda result: {"video_seconds_dubbed": result["steps_done"]}
    )
    async with deploy() as d:
        jobs = [await d.submit("shop-a", steps=steps, step_s=0) for steps in (2, 3)]
        failing = await d.submit("shop-a", steps=3, step_s=0, fail_at=1)
        for job in [*jobs, failing]:
            await d.wait_job(job["id"], "shop-a")
        totals = await usage_of(d, "shop-a")
        assert totals["jobs_created"] == 3
        assert totals["video_seconds_dubbed"] == 5  # succeeded jobs only

    dubbed = JobRecord(
        id="job_x",
        tenant="shop-a",
        type="video_dubbing",
        resource="media",
        state=JobState.SUCCEEDED,
        input={},
        stage=None,
        stage_index=0,
        stage_count=1,
        progress=1.0,
        checkpoint={},
        result={"input": {"duration_s": 12.5}, "languages": {"de": {}, "zh": {}}},
        error=None,
        attempts=1,
        created_at=time.time(),
        started_at=None,
        finished_at=None,
        updated_at=time.time(),
    )
    assert job_usage(dubbed) == {"video_seconds_dubbed": 25.0}
    failed = JobRecord(**{**dubbed.__dict__, "state": JobState.FAILED})
    assert job_usage(failed) == {}


async def test_the_pipelines_llm_tokens_count_for_requests_and_jobs_alike(deploy: Deploy) -> None:
    german = "Nur $12.99 für 2 Flaschen von Yiwu Star."
    async with deploy(specs=[scripted_spec(lambda *_: german)]) as d:
        body = {"text": "Only $12.99 for 2 bottles of Yiwu Star.", "target_languages": ["de"]}
        direct = await d.http.post("/v1/translations", json=body, headers=d.auth("shop-a"))
        assert direct.status_code == 200, direct.text
        job = await d.http.post(
            "/v1/jobs", json={"type": "translation", "input": body}, headers=d.auth("shop-b")
        )
        assert (await d.wait_job(job.json()["id"], "shop-b"))["state"] == "succeeded"
        by_request, by_job = await usage_of(d, "shop-a"), await usage_of(d, "shop-b")
        assert by_request["prompt_tokens"] > 0
        assert by_request["completion_tokens"] >= len(german.split())
        for name in ("prompt_tokens", "completion_tokens"):  # the same work, the same count
            assert by_job[name] == by_request[name]
