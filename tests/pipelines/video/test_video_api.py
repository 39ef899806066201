"""POST /v1/video/dubbings over real HTTP: bad uploads get clear 400s, good ones become jobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from models.spec import ModelSpec
from pipelines.platform.uploads import uploads_dir
from pipelines.video.settings import VideoSettings
from server.app import create_app
from tests.fixtures_server import make_settings, running
from tests.fixtures_video import Clip, ffprobe

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tmp_path_factory: pytest.TempPathFactory, video_model_specs: list[ModelSpec]
) -> AsyncIterator[httpx.AsyncClient]:
    base = make_settings(tmp_path_factory.mktemp("video_api"), video_model_specs)
    # short clips only, to test the limit
    settings = base.model_copy(update={"video": VideoSettings(max_duration_s=5.5)})
    app = create_app(settings)
    async with running(app) as c:
        c.headers["x-data-dir"] = str(settings.data_dir)  # for the tests' own checks only
        yield c


def _data_dir(client: httpx.AsyncClient) -> Path:
    return Path(client.headers["x-data-dir"])


async def _post(client: httpx.AsyncClient, path: Path, **fields: Any) -> httpx.Response:
    data = {"languages": "en", "keywords": "steel bottle, cold 24 h", **fields}
    with path.open("rb") as f:
        return await client.post(
            "/v1/video/dubbings", data=data, files={"file": (path.name, f, "video/mp4")}
        )


def _nothing_left(client: httpx.AsyncClient) -> bool:
    folder = uploads_dir(_data_dir(client))
    return not folder.exists() or not any(folder.iterdir())


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("text", "invalid_video"),
        ("audio_only", "no_video_stream"),
        ("playlist", "invalid_video"),
        ("truncated", "invalid_video"),
    ],
)
async def test_bad_media_is_refused_with_400_and_leaves_nothing(
    client: httpx.AsyncClient, bad_media: dict[str, Path], kind: str, code: str
):
    response = await _post(client, bad_media[kind])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == "file"
    assert error["type"] == "invalid_request_error"
    assert _nothing_left(client)
    jobs = (await client.get("/v1/jobs")).json()["data"]
    assert not [j for j in jobs if j["type"] == "video_dubbing"]


async def test_clip_over_the_duration_limit_is_refused(
    client: httpx.AsyncClient, clips: dict[str, Clip]
):
    response = await _post(client, clips["landscape_speech"].path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "video_limits_exceeded"
    assert "5.5 s" in response.json()["error"]["message"]
    assert _nothing_left(client)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"languages": "xx"}, "languages.0"),
        ({"audio": "louder"}, "audio"),
        ({"mode": "script", "keywords": ""}, "keywords"),
        ({"chat_model": "no-such-model"}, "chat_model"),
        ({"require_pass": "maybe"}, "require_pass"),
    ],
)
async def test_bad_options_are_refused_before_any_work(
    client: httpx.AsyncClient, clips: dict[str, Clip], fields: dict[str, str], param: str
):
    response = await _post(client, clips["portrait_silent"].path, **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert _nothing_left(client)


async def test_missing_file_is_a_400(client: httpx.AsyncClient):
    response = await client.post("/v1/video/dubbings", data={"languages": "en"}, files={})
    assert response.status_code == 400


async def test_dubbing_job_runs_and_serves_its_video(
    client: httpx.AsyncClient, clips: dict[str, Clip], tmp_path: Path
):
    clip = clips["portrait_silent"]
    # tts_models is a JSON form field, like voices (a form cannot carry an object)
    response = await _post(
        client, clip.path, languages="zh", keywords="保温杯,轻便", tts_models='{"zh": "espeak"}'
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["type"] == "video_dubbing" and job["stage_count"] == 7
    assert job["input"]["tts_models"] == {"zh": "espeak"}
    async with asyncio.timeout(120):
        while job["state"] not in ("succeeded", "failed", "cancelled"):
            await asyncio.sleep(0.3)
            job = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"] == 1.0
    names = {a["name"] for a in job["artifacts"]}
    # and the clip, kept for a re-dub (POST /v1/video/dubbings/{id}/redub)
    assert names == {"zh.mp4", "zh.srt", "zh.vtt", "zh.script.json", "zh.qa.json", "source.video"}
    video = await client.get(f"/v1/jobs/{job['id']}/artifacts/zh.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    out = tmp_path / "zh.mp4"
    out.write_bytes(video.content)
    probed = ffprobe(out)
    assert {s["codec_type"] for s in probed["streams"]} == {"video", "audio", "subtitle"}
    assert float(probed["format"]["duration"]) == pytest.approx(clip.seconds, abs=0.05)
    srt_text = (await client.get(f"/v1/jobs/{job['id']}/artifacts/zh.srt")).text
    assert "保温杯" in srt_text
    qa = job["result"]["languages"]["zh"]["qa"]
    assert qa["script_source"] == "fallback" and qa["script_fallback"] == "keywords"
    # succeeded, but not passed: a script from the keywords is for a person to review
    assert qa["verdict"] in ("review", "fail") and job["result"]["verdict"] == qa["verdict"]
    assert any(r.startswith("zh: the script is a fallback") for r in job["result"]["reasons"])
    assert _nothing_left(client)


async def test_require_pass_turns_a_verdict_short_of_pass_into_a_failed_job(
    client: httpx.AsyncClient, clips: dict[str, Clip]
):
    response = await _post(
        client,
        clips["portrait_silent"].path,
        languages="zh",
        keywords="保温杯",
        require_pass="true",
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    events = []
    async with asyncio.timeout(120):
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    events.append(json.loads(line.removeprefix("data: ")))
    last = events[-1]
    assert last["state"] == "failed" and last["error"]["code"] == "qa_not_passed"
    assert last["result"]["verdict"] in ("review", "fail")
    assert "the script is a fallback" in last["error"]["message"]
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["error"] == last["error"] and job["result"]["verdict"] == last["result"]["verdict"]
    video = await client.get(f"/v1/jobs/{job_id}/artifacts/zh.mp4")  # there to be reviewed
    assert video.status_code == 200
