"""Honest language coverage: GET /v1/languages says what the configured models can do per
language; a language the chat model is weak in or was never measured in is answered with a
warning that gives the figure, and only one measured unusable is refused, with its figure,
unless the request allows it (chat ratings from a ratings file like the one
scripts/eval_languages.py writes; TTS voices and ASR asked of the models)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from models.spec import ModelSpec
from pipelines.coverage import RatingBook, RatingThresholds
from pipelines.platform.uploads import uploads_dir
from scripts.eval_languages import rerate
from tests.fixtures_console import sign_in
from tests.fixtures_jobs import (
    KEYS,
    auth,
    build_app,
    job_test_settings,
    serve_in_process,
    wait_for_job,
)
from tests.fixtures_server import assert_error
from tests.fixtures_video import Clip


def measured(chrf: float, low: float, high: float, answered: float = 1.0) -> dict[str, Any]:
    return {
        "sentences": 100,
        "chrf": chrf,
        "chrf_low": low,
        "chrf_high": high,
        "answered": answered,
        "kept": 1.0,
    }


SCORES = {
    "zh": {
        "rating": "good",
        "basis": "en",
        "directions": {"en": {"pipeline": measured(61.5, 58.2, 64.9), "raw": None}},
    },
    "fr": {
        "rating": "weak",
        "basis": "zh",
        "directions": {
            "zh": {"pipeline": measured(34.0, 31.2, 36.9, 0.86), "raw": measured(38.4, 35.0, 41.7)}
        },
    },
    "de": {
        "rating": "unusable",
        "basis": "zh",
        "directions": {"zh": {"pipeline": measured(12.3, 10.1, 14.6), "raw": None}},
    },
}


def ratings_for(*model_ids: str) -> dict[str, Any]:
    entry = {"evaluated": "2025-01-01", "reference": "NTREX-128", "languages": SCORES}
    return {"thresholds": {"unusable_chrf": 15.0}, "models": dict.fromkeys(model_ids, entry)}


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
        assert listed["thresholds"]["unusable_chrf"] == 15.0  # the file's, over the defaults
        assert listed["thresholds"]["good_chrf"] == RatingThresholds().good_chrf
        by_code = {lang["code"]: lang for lang in listed["data"]}
        assert by_code["zh"]["chat"] == {
            "model": "tiny-chat",
            "rating": "good",
            "chrf": 61.5,
            "basis": "en",
            "directions": SCORES["zh"]["directions"],
        }
        french = by_code["fr"]["chat"]
        assert (french["rating"], french["chrf"], french["basis"]) == ("weak", 34.0, "zh")
        assert french["directions"]["zh"]["raw"]["chrf"] == 38.4  # the plain prompt, beside it
        assert by_code["de"]["chat"]["rating"] == "unusable"
        assert by_code["en"]["chat"] == {
            "model": "tiny-chat",
            "rating": "unrated",
            "chrf": None,
            "basis": None,
            "directions": {},
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
        # read from the config and the models' files: no engine was built to answer
        assert not any(m["loaded"] for m in (await client.get("/v1/models")).json()["data"])

        unknown = await client.get("/v1/languages", params={"model": "no-such-model"})
        assert_error(unknown, 400, "model_not_found")


async def test_a_model_without_ratings_is_answered_with_an_unrated_warning(
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
        (warning,) = answered.json()["warnings"]
        assert (warning["language"], warning["rating"], warning["chrf"]) == ("de", "unrated", None)
        assert "not been measured in German" in warning["message"]


async def test_a_language_measured_unusable_is_refused_with_its_figure_before_any_work(
    coverage_client: CoverageClient, video_model_specs: list[ModelSpec], clips: dict[str, Clip]
) -> None:
    async with coverage_client(video_model_specs) as client:
        translation = await client.post(
            "/v1/translations", json={"text": "Steel bottle", "target_languages": ["fr", "de"]}
        )
        error = assert_error(translation, 400, "language_not_supported")
        assert error["param"] == "target_languages"
        message = error["message"]
        assert "German" in message and "tiny-chat" in message
        assert "chrF 12.3 (95% CI 10.1-14.6)" in message and "zh->de" in message
        assert "allow_unusable_languages" in message
        assert "French" not in message  # weak is answered

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


async def test_the_caller_can_have_a_language_measured_unusable_with_a_warning(
    coverage_client: CoverageClient, tiny_chat_spec: ModelSpec
) -> None:
    body = {
        "text": "Steel bottle",
        "target_languages": ["de"],
        "max_attempts": 1,
        "on_failure": "report",  # the tiny random model writes no real German
        "allow_unusable_languages": True,
    }
    async with coverage_client([tiny_chat_spec]) as client:
        answered = await client.post("/v1/translations", json=body)
        assert answered.status_code == 200, answered.text
        (warning,) = answered.json()["warnings"]
        assert (warning["language"], warning["rating"], warning["chrf"]) == ("de", "unusable", 12.3)

        job = await client.post("/v1/jobs", json={"type": "translation", "input": body})
        assert job.status_code == 200, job.text
        done = await wait_for_job(client, job.json()["id"], "shop-a")
        assert done["state"] == "succeeded", done
        assert [w["rating"] for w in done["result"]["warnings"]] == ["unusable"]


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
        assert not any(m["loaded"] for m in (await client.get("/v1/models")).json()["data"])
        assert (await client.get("/v1/jobs")).json()["data"] == []


async def test_a_weak_language_is_answered_with_a_warning_that_gives_the_figure(
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
        (warning,) = answered.json()["warnings"]  # none for zh, rated good
        assert (warning["language"], warning["rating"], warning["chrf"]) == ("fr", "weak", 34.0)
        assert "tiny-chat" in warning["message"] and "French" in warning["message"]
        assert "chrF 34.0 (95% CI 31.2-36.9), 86% answered" in warning["message"]

        job = await client.post("/v1/jobs", json={"type": "translation", "input": body})
        assert job.status_code == 200, job.text
        done = await wait_for_job(client, job.json()["id"], "shop-a")
        assert done["state"] == "succeeded", done
        assert [w["language"] for w in done["result"]["warnings"]] == ["fr"]


async def test_the_console_offers_every_language_it_can_voice_with_its_rating(
    coverage_client: CoverageClient, video_model_specs: list[ModelSpec]
) -> None:
    async with coverage_client(video_model_specs) as client:
        await sign_in(client, KEYS["shop-a"], "/dub")
        dub = (await client.get("/dub", headers={"Accept-Language": "en"})).text
        translate = (await client.get("/translate", headers={"Accept-Language": "en"})).text
    offered = re.findall(r'name="languages" value="([\w-]+)"', dub)
    # every language espeak-ng voices, Arabic, Korean and Italian among them; German is measured
    # unusable, Hausa has no voice
    assert {"zh", "en", "fr", "ar", "ko", "it", "ru", "th"} <= set(offered)
    assert "de" not in offered and "ha" not in offered
    for page in (dub, translate):
        assert re.search(r'data-rating="good"[^>]*>good · 62<', page)  # zh: 61.5
        assert re.search(r'data-rating="weak"[^>]*>weak · 34<', page)
        assert re.search(r'data-rating="unrated"[^>]*>unrated<', page)
    assert 'name="target_languages" value="de"' not in translate


def test_rerating_applies_edited_thresholds_to_the_stored_scores() -> None:
    book = RatingBook.model_validate(ratings_for("m"))
    assert book.rating("m", "fr") == "weak"
    book.thresholds = book.thresholds.model_copy(update={"unusable_chrf": 40.0})
    rated = rerate(book)
    assert rated.rating("m", "fr") == "unusable"  # its whole interval (31.2-36.9) is below 40
    assert rated.rating("m", "zh") == "good"
    assert rated.rating("m", "ja") == rated.rating("other", "zh") == "unrated"
