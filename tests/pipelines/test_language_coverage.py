"""Honest language coverage: GET /v1/languages says what the configured models can do per
language, and requests for what they cannot are refused up front (chat ratings from a ratings
file like the one scripts/eval_languages.py writes; TTS voices and ASR asked of the models)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from models.spec import ModelSpec
from pipelines.coverage import RatingThresholds
from pipelines.platform.uploads import uploads_dir
from scripts.eval_languages import rerate
from tests.fixtures_jobs import auth, build_app, job_test_settings, serve_in_process, wait_for_job
from tests.fixtures_server import assert_error
from tests.fixtures_video import Clip

SCORES = {
    "zh": {"rating": "good", "chrf": 61.5, "passed": 1.0, "kept": 1.0, "native": 0.98},
    "fr": {"rating": "weak", "chrf": 44.0, "passed": 0.67, "kept": 1.0, "native": 0.8},
    "de": {"rating": "unsupported", "chrf": 21.0, "passed": 0.33, "kept": 0.6, "native": 0.5},
}


def ratings_for(*model_ids: str) -> dict[str, Any]:
    entry = {"evaluated": "2025-01-01", "lines": 3, "attempts": 2, "languages": SCORES}
    return {"thresholds": {"weak_chrf": 30.0}, "models": dict.fromkeys(model_ids, entry)}


CoverageClient = Callable[[list[ModelSpec]], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def coverage_client(tmp_path: Path) -> CoverageClient:
    """The real app on the given models, reading a ratings file that rates them all like SCORES."""

    @asynccontextmanager
    async def build(specs: list[ModelSpec]) -> AsyncIterator[httpx.AsyncClient]:
        ratings = tmp_path / "language_ratings.yaml"
        ratings.write_text(yaml.safe_dump(ratings_for(*(s.id for s in specs))))
        settings = job_test_settings(tmp_path, specs)
        settings = settings.model_copy(update={"language_ratings": ratings})
        async with serve_in_process(build_app(settings)) as client:
            client.headers.update(auth("shop-a"))
            client.headers["x-data-dir"] = str(settings.data_dir)  # for the tests' own checks
            yield client

    return build


async def post_dubbing(client: httpx.AsyncClient, clip: Path, **fields: str) -> httpx.Response:
    data = {"keywords": "steel bottle, cold 24 h", **fields}
    with clip.open("rb") as f:
        return await client.post(
            "/v1/video/dubbings", data=data, files={"file": (clip.name, f, "video/mp4")}
        )


def no_upload_left(client: httpx.AsyncClient) -> bool:
    folder = uploads_dir(Path(client.headers["x-data-dir"]))
    return not folder.exists() or not any(folder.iterdir())


async def test_languages_list_the_chat_rating_tts_voices_and_asr_models_per_language(
    coverage_client: CoverageClient, video_model_specs: list[ModelSpec]
) -> None:
    async with coverage_client(video_model_specs) as client:
        response = await client.get("/v1/languages")
        assert response.status_code == 200, response.text
        listed = response.json()
        assert listed["chat_model"] == "tiny-chat"
        assert listed["thresholds"]["weak_chrf"] == 30.0  # the file's, over the defaults
        assert listed["thresholds"]["good_chrf"] == RatingThresholds().good_chrf
        by_code = {lang["code"]: lang for lang in listed["data"]}
        assert by_code["zh"]["chat"] == {"model": "tiny-chat", **SCORES["zh"]}
        assert by_code["fr"]["chat"]["rating"] == "weak"
        assert by_code["de"]["chat"]["rating"] == "unsupported"
        assert by_code["en"]["chat"] == {
            "model": "tiny-chat",
            "rating": "unrated",
            "chrf": None,
            "passed": None,
            "kept": None,
            "native": None,
        }
        # TTS: asked of espeak-ng itself (the test config maps zh to Mandarin)
        assert by_code["zh"]["tts"]["voices"] == [{"model": "espeak", "voice": "cmn"}]
        assert by_code["zh-Hant"]["tts"]["voices"] == [{"model": "espeak", "voice": "cmn"}]
        assert by_code["ha"]["tts"]["voices"] == []  # espeak-ng has no Hausa
        # ASR: the tiny multilingual Whisper knows zh and Tagalog (fil), not Zulu
        assert by_code["zh"]["asr"]["models"] == ["tiny-whisper"]
        assert by_code["fil"]["asr"]["models"] == ["tiny-whisper"]
        assert by_code["zu"]["asr"]["models"] == []
        # the static facts are still there
        assert (by_code["ar"]["direction"], by_code["ar"]["native"]) == ("rtl", "العربية")

        unknown = await client.get("/v1/languages", params={"model": "no-such-model"})
        assert_error(unknown, 400, "model_not_found")


async def test_a_model_without_ratings_is_unrated_and_allowed(
    tmp_path: Path, tiny_chat_spec: ModelSpec
) -> None:
    settings = job_test_settings(tmp_path, [tiny_chat_spec])
    settings = settings.model_copy(update={"language_ratings": tmp_path / "absent.yaml"})
    async with serve_in_process(build_app(settings)) as client:
        listed = await client.get("/v1/languages", headers=auth("shop-a"))
        ratings = {lang["chat"]["rating"] for lang in listed.json()["data"]}
        assert ratings == {"unrated"}
        answered = await client.post(
            "/v1/translations",
            json={"text": "Hi", "target_languages": ["de"], "on_failure": "report"},
            headers=auth("shop-a"),
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["warnings"] == []


async def test_a_language_rated_unsupported_is_refused_with_400_before_any_work(
    coverage_client: CoverageClient, video_model_specs: list[ModelSpec], clips: dict[str, Clip]
) -> None:
    async with coverage_client(video_model_specs) as client:
        translation = await client.post(
            "/v1/translations", json={"text": "Steel bottle", "target_languages": ["fr", "de"]}
        )
        error = assert_error(translation, 400, "language_not_supported")
        assert error["param"] == "target_languages"
        assert "German (de)" in error["message"] and "tiny-chat" in error["message"]
        assert "French" not in error["message"]  # weak is allowed

        copy = await client.post(
            "/v1/copywriting", json={"product": {"name": "Bottle"}, "target_languages": "de"}
        )
        assert assert_error(copy, 400, "language_not_supported")["param"] == "target_languages"

        for job_type, body in (
            ("translation", {"text": "Steel bottle", "target_languages": ["de"]}),
            ("copywriting", {"product": {"name": "Bottle"}, "target_languages": ["de"]}),
        ):
            job = await client.post("/v1/jobs", json={"type": job_type, "input": body})
            error = assert_error(job, 400, "language_not_supported")
            assert error["param"] == "input.target_languages"

        dubbing = await post_dubbing(client, clips["landscape_speech"].path, languages="en,de")
        assert assert_error(dubbing, 400, "language_not_supported")["param"] == "languages"
        assert no_upload_left(client)
        assert (await client.get("/v1/jobs")).json()["data"] == []


async def test_a_dubbing_language_without_a_tts_voice_is_refused_at_submission(
    coverage_client: CoverageClient, video_model_specs: list[ModelSpec], clips: dict[str, Clip]
) -> None:
    async with coverage_client(video_model_specs) as client:
        clip = clips["landscape_speech"].path
        hausa = await post_dubbing(client, clip, languages="en,ha")
        error = assert_error(hausa, 400, "no_voice_for_language")
        assert error["param"] == "languages"
        assert "Hausa (ha)" in error["message"] and "'espeak'" in error["message"]

        named = await post_dubbing(client, clip, languages="en", voices='{"en": "robot9"}')
        assert assert_error(named, 400, "unknown_voice")["param"] == "voices"
        assert no_upload_left(client)
        assert (await client.get("/v1/jobs")).json()["data"] == []


async def test_a_language_rated_weak_is_answered_with_a_warning(
    coverage_client: CoverageClient, tiny_chat_spec: ModelSpec
) -> None:
    body = {
        "text": "Steel bottle",
        "target_languages": ["fr", "zh"],
        "max_attempts": 1,
        "on_failure": "report",  # the tiny random model writes no real French
    }
    async with coverage_client([tiny_chat_spec]) as client:
        answered = await client.post("/v1/translations", json=body)
        assert answered.status_code == 200, answered.text
        (warning,) = answered.json()["warnings"]
        assert (warning["language"], warning["rating"]) == ("fr", "weak")
        assert "tiny-chat" in warning["message"] and "French" in warning["message"]

        job = await client.post("/v1/jobs", json={"type": "translation", "input": body})
        assert job.status_code == 200, job.text
        done = await wait_for_job(client, job.json()["id"], "shop-a")
        assert done["state"] == "succeeded", done
        assert [w["language"] for w in done["result"]["warnings"]] == ["fr"]


def test_rerating_applies_edited_thresholds_to_the_stored_scores() -> None:
    from pipelines.coverage import RatingBook

    book = RatingBook.model_validate(ratings_for("m"))
    assert book.rating("m", "fr") == "weak"
    book.thresholds = book.thresholds.model_copy(update={"weak_chrf": 50.0})
    rated = rerate(book)
    assert rated.rating("m", "fr") == "unsupported"
    assert rated.rating("m", "zh") == "good"
    assert rated.rating("m", "ja") == rated.rating("other", "zh") == "unrated"
