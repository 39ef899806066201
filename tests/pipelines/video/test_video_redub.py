"""The user's own script (mode own) and re-dubs of finished jobs, over real HTTP with tiny models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import srt

from models.spec import ModelSpec
from pipelines.platform.uploads import uploads_dir
from server.app import create_app
from tests.fixtures_server import assert_error, make_settings, running
from tests.fixtures_video import Clip, ffprobe

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEYS = {"shop-a": "key-a-0123456789", "shop-b": "key-b-0123456789"}
OWN_SRT = (
    "1\n00:00:00,300 --> 00:00:02,200\nFresh water all day long.\n\n"
    "2\n00:00:02,500 --> 00:00:04,600\nLight and easy to carry.\n"
)
PAST_THE_END = OWN_SRT.replace("00:00:04,600", "00:00:09,000")  # the clip has 5 s
OVERLAPPING = OWN_SRT.replace("00:00:02,500", "00:00:01,500")
EDITED = [
    {"start": 0.4, "end": 2.4, "text": "Steel keeps it cold."},
    {"start": 2.8, "end": 5.2, "text": "Order yours today."},
]
CARRIED_FILES = ("es.mp4", "es.srt", "es.vtt", "es.script.json", "es.qa.json")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tmp_path_factory: pytest.TempPathFactory, video_model_specs: list[ModelSpec]
) -> AsyncIterator[httpx.AsyncClient]:
    api_keys = [{"key": key, "tenant": tenant} for tenant, key in KEYS.items()]
    settings = make_settings(tmp_path_factory.mktemp("redub"), video_model_specs, api_keys=api_keys)
    async with running(create_app(settings)) as c:
        c.headers["authorization"] = f"Bearer {KEYS['shop-a']}"
        c.headers["x-data-dir"] = str(settings.data_dir)  # for the tests' own checks only
        yield c


async def _post(client: httpx.AsyncClient, clip: Clip, **fields: str) -> httpx.Response:
    with clip.path.open("rb") as f:
        return await client.post(
            "/v1/video/dubbings", data=fields, files={"file": (clip.path.name, f, "video/mp4")}
        )


async def _finished(client: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    async with asyncio.timeout(300):
        while job["state"] not in ("succeeded", "failed", "cancelled"):
            await asyncio.sleep(0.3)
            job = (await client.get(f"/v1/jobs/{job['id']}")).json()
    return job


async def _file(client: httpx.AsyncClient, job_id: str, name: str) -> bytes:
    response = await client.get(f"/v1/jobs/{job_id}/artifacts/{name}")
    assert response.status_code == 200, (name, response.text)
    return response.content


async def _job_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/jobs")).json()["data"])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_job(client: httpx.AsyncClient, clips: dict[str, Clip]) -> dict[str, Any]:
    """en from an SRT form field, es from plain lines in the JSON field `scripts`."""
    response = await _post(
        client,
        clips["portrait_silent"],
        mode="own",
        languages="en,es",
        **{"scripts.en": OWN_SRT},
        scripts=json.dumps({"es": "Agua fresca todo el día.\nLigera y fácil de llevar."}),
        back_translate="false",  # the merchant's own lines, not read back: no chat model at all
    )
    assert response.status_code == 200, response.text
    return await _finished(client, response.json())


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def script_job(client: httpx.AsyncClient, clips: dict[str, Clip]) -> dict[str, Any]:
    """A dub the chat model wrote (from the keywords) over a narrated clip: the parent."""
    response = await _post(
        client, clips["landscape_speech"], languages="en,es", keywords="steel bottle, cold 24 h"
    )
    assert response.status_code == 200, response.text
    job = await _finished(client, response.json())
    assert job["state"] == "succeeded", job["error"]
    return job


async def test_own_srt_dub_speaks_the_users_lines_without_a_chat_model(
    client: httpx.AsyncClient, own_job: dict[str, Any], clips: dict[str, Clip], tmp_path: Path
):
    assert own_job["state"] == "succeeded", own_job["error"]
    out = tmp_path / "en.mp4"
    out.write_bytes(await _file(client, own_job["id"], "en.mp4"))
    probed = ffprobe(out)
    assert {s["codec_type"] for s in probed["streams"]} == {"video", "audio", "subtitle"}
    assert float(probed["format"]["duration"]) == pytest.approx(5.0, abs=0.05)
    cues = list(srt.parse((await _file(client, own_job["id"], "en.srt")).decode()))
    spoken = " ".join(c.content.replace("\n", " ") for c in cues)
    assert "Fresh water all day long." in spoken and "Light and easy to carry." in spoken
    assert cues[0].start.total_seconds() == pytest.approx(0.3, abs=0.01)
    assert "Ligera y fácil de llevar." in (await _file(client, own_job["id"], "es.srt")).decode()
    result = own_job["result"]
    for code in ("en", "es"):
        script = json.loads(await _file(client, own_job["id"], f"{code}.script.json"))
        assert script["source"] == {"source": "user"} and script["mode"] == "own"
        qa = result["languages"][code]["qa"]  # QA still listened to the dub
        assert qa["script_source"] == "user" and qa["back_transcription"]["text"] is not None
        assert qa["read_back"] and all(line["back_translation"] is None for line in qa["read_back"])
    assert "chat" not in result["timings"]["inference_s"]  # no script written, no line shortened
    assert "source.video" in {a["name"] for a in own_job["artifacts"]}  # kept for a re-dub


async def test_redub_revoices_only_the_edited_language_and_keeps_the_parent(
    client: httpx.AsyncClient, script_job: dict[str, Any]
):
    parent_id = script_job["id"]
    parent_en_srt = await _file(client, parent_id, "en.srt")
    response = await client.post(
        f"/v1/video/dubbings/{parent_id}/redub", json={"lines": {"en": EDITED}}
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["id"] != parent_id and job["input"]["parent_job"] == parent_id
    assert job["input"]["mode"] == "own" and job["input"]["languages"] == ["en"]
    job = await _finished(client, job)
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    assert result["parent_job"] == parent_id and set(result["languages"]) == {"en", "es"}
    assert result["languages"]["es"]["carried_from"] == parent_id
    srt_text = (await _file(client, job["id"], "en.srt")).decode()
    assert "Steel keeps it cold." in srt_text and "Order yours today." in srt_text
    for name in CARRIED_FILES:  # the language not edited is the parent's, byte for byte
        assert await _file(client, job["id"], name) == await _file(client, parent_id, name)
    assert await _file(client, parent_id, "en.srt") == parent_en_srt  # the earlier version
    # the parent's clip, sound and probe were reused: no model transcribed or wrote anything
    parent_models = script_job["result"]["timings"]["inference_stages_s"]
    assert "asr" in parent_models["transcribe"] and "chat" in parent_models["script"]
    models = result["timings"]["inference_stages_s"]
    assert "transcribe" not in models and "script" not in models and "probe" not in models
    assert set(models["voice"]) == {"tts"}
    assert result["input"] == script_job["result"]["input"]
    assert result["transcript"] == script_job["result"]["transcript"]
    assert "source.video" in {a["name"] for a in job["artifacts"]}  # it can be re-dubbed too
    names = {a["name"] for a in job["artifacts"]}
    assert {"en.mp4", "en.qa.json", *CARRIED_FILES} <= names


@pytest.mark.parametrize(
    ("lines", "param"),
    [
        ({"fr": EDITED}, "lines.fr"),
        ({"en": [EDITED[0], {**EDITED[1], "start": 2.0}]}, "lines.en[1].start"),
        ({"en": [EDITED[1], EDITED[0]]}, "lines.en[1].start"),
        ({"en": [{**EDITED[0], "end": 60.0}]}, "lines.en[0].end"),
        ({"en": [{**EDITED[0], "end": 0.2}]}, "lines.en[0].end"),
        ({"en": [EDITED[0], {**EDITED[1], "text": "  "}]}, "lines.en[1].text"),
        ({"en": []}, "lines.en"),
    ],
)
async def test_redub_lines_that_cannot_be_voiced_are_a_400(
    client: httpx.AsyncClient, script_job: dict[str, Any], lines: dict[str, Any], param: str
):
    before = await _job_count(client)
    response = await client.post(
        f"/v1/video/dubbings/{script_job['id']}/redub", json={"lines": lines}
    )
    assert_error(response, 400, param=param)
    assert await _job_count(client) == before


async def test_redub_of_an_unknown_or_another_tenants_job_is_a_404(
    client: httpx.AsyncClient, script_job: dict[str, Any]
):
    body = {"lines": {"en": EDITED}}
    response = await client.post("/v1/video/dubbings/job_000000000000/redub", json=body)
    assert_error(response, 404, "job_not_found")
    response = await client.post(
        f"/v1/video/dubbings/{script_job['id']}/redub",
        json=body,
        headers={"authorization": f"Bearer {KEYS['shop-b']}"},
    )
    assert_error(response, 404, "job_not_found")


async def test_redub_of_a_job_without_a_dub_or_not_a_dubbing_is_a_409(
    client: httpx.AsyncClient, clips: dict[str, Clip]
):
    response = await _post(client, clips["portrait_silent"], mode="translate", languages="en")
    failed = await _finished(client, response.json())
    assert failed["state"] == "failed" and failed["error"]["code"] == "no_speech"
    body = {"lines": {"en": EDITED}}
    response = await client.post(f"/v1/video/dubbings/{failed['id']}/redub", json=body)
    assert_error(response, 409, "job_has_no_dub", param="job_id")
    translation = await client.post(
        "/v1/jobs",
        json={"type": "translation", "input": {"text": ["Hi"], "target_languages": ["de"]}},
    )
    assert translation.status_code == 200, translation.text
    response = await client.post(f"/v1/video/dubbings/{translation.json()['id']}/redub", json=body)
    assert_error(response, 409, "not_a_dubbing_job", param="job_id")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"languages": "en,es", "scripts.en": OWN_SRT}, "scripts.es"),
        ({"languages": "en", "scripts.en": PAST_THE_END}, "scripts.en"),
        ({"languages": "en", "scripts.en": OVERLAPPING}, "scripts.en"),
        ({"languages": "en", "scripts.en": "1\n00:00:00,300 --> 00:00:02,200\n\n"}, "scripts.en"),
        ({"languages": "en", "scripts.en": "\n \n"}, "scripts.en"),
        ({"languages": "en", "scripts.en": "\n".join(["Buy now."] * 20)}, "scripts.en"),
        ({"languages": "en", "scripts.en": OWN_SRT, "scripts.de": "Hallo."}, "scripts.de"),
    ],
)
async def test_own_scripts_that_cannot_be_voiced_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, clips: dict[str, Clip], fields: dict[str, str], param: str
):
    before = await _job_count(client)
    response = await _post(client, clips["portrait_silent"], mode="own", **fields)
    assert_error(response, 400, param=param)
    assert await _job_count(client) == before
    folder = uploads_dir(Path(client.headers["x-data-dir"]))
    assert not folder.exists() or not any(folder.iterdir())


async def test_deleting_a_redubbed_parent_leaves_its_redub_whole(
    client: httpx.AsyncClient, own_job: dict[str, Any]
):
    response = await client.post(
        f"/v1/video/dubbings/{own_job['id']}/redub", json={"lines": {"es": EDITED[:1]}}
    )
    assert response.status_code == 200, response.text
    job = await _finished(client, response.json())
    assert job["state"] == "succeeded", job["error"]
    english = await _file(client, own_job["id"], "en.mp4")
    assert (await client.delete(f"/v1/jobs/{own_job['id']}")).json()["deleted"] is True
    assert await _file(client, job["id"], "en.mp4") == english  # a link, not the parent's file
    again = await client.post(
        f"/v1/video/dubbings/{own_job['id']}/redub", json={"lines": {"es": EDITED[:1]}}
    )
    assert_error(again, 404, "job_not_found")
