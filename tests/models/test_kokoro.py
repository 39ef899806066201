"""Kokoro-82M over HTTP: Mandarin and English that Whisper base reads back, and each language
spoken by its configured TTS model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jiwer
import pytest
import pytest_asyncio

from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from server.app import create_app
from tests.fixtures_server import AppClient, assert_error, make_settings, running
from tests.fixtures_stt import whisper_base_spec
from tests.fixtures_tts import decode
from tests.fixtures_video import Clip

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.real_weights]

SPEECH = "/v1/audio/speech"
MANDARIN = (
    "这款竹子牙刷环保又耐用，适合全家使用。我们的产品质量很好，价格也很便宜。今天下单，明天发货。"
)
ENGLISH = "This bamboo toothbrush is gentle on your gums. Free shipping on every order."
# Whisper base writes Mandarin in traditional characters unless its prompt is in simplified ones
SIMPLIFIED_PROMPT = "以下是普通话的句子。"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    kokoro_spec: ModelSpec,
    whisper_base_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    """One app: Kokoro, and Whisper base to hear what it says."""
    specs = [kokoro_spec, whisper_base_spec(whisper_base_dir)]
    app = create_app(make_settings(tmp_path_factory.mktemp("kokoro"), specs))
    async with running(app) as c:
        yield c


def speech(text: str, voice: str, **fields: Any) -> dict[str, Any]:
    return {"model": "kokoro-82m", "input": text, "voice": voice, **fields}


async def spoken_back(client: httpx.AsyncClient, text: str, language: str) -> str:
    """Speak `text` in `language`, then transcribe the WAV with Whisper base."""
    response = await client.post(SPEECH, json=speech(text, language, response_format="wav"))
    assert response.status_code == 200, response.text
    assert decode(response.content, "wav")[2] == 24000
    prompt = {"prompt": SIMPLIFIED_PROMPT} if language == "zh" else {}
    heard = await client.post(
        "/v1/audio/transcriptions",
        files={"file": ("speech.wav", response.content, "audio/wav")},
        data={"model": "whisper-base", "language": language, **prompt},
    )
    assert heard.status_code == 200, heard.text
    return str(heard.json()["text"])


def character_error_rate(reference: str, hypothesis: str) -> float:
    def normal(text: str) -> str:
        return re.sub(r"[\W_]+", "", text)

    return float(jiwer.cer(normal(reference), normal(hypothesis)))


def word_error_rate(reference: str, hypothesis: str) -> float:
    def normal(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())

    return float(jiwer.wer(normal(reference), normal(hypothesis)))


# --- what Whisper base hears -----------------------------------------------------------------
async def test_mandarin_is_read_back_by_whisper_base_with_cer_at_most_0_35(
    client: httpx.AsyncClient,
) -> None:
    heard = await spoken_back(client, MANDARIN, "zh")
    assert character_error_rate(MANDARIN, heard) <= 0.35, heard


async def test_english_is_read_back_by_whisper_base_with_wer_at_most_0_2(
    client: httpx.AsyncClient,
) -> None:
    heard = await spoken_back(client, ENGLISH, "en")
    assert word_error_rate(ENGLISH, heard) <= 0.2, heard


# --- voices ----------------------------------------------------------------------------------
async def test_voices_are_language_and_style_pairs_and_any_pair_is_spoken(
    client: httpx.AsyncClient,
) -> None:
    voices = (await client.get("/v1/audio/voices", params={"model": "kokoro-82m"})).json()["data"]
    assert [(v["id"], v["languages"], v["default_for"]) for v in voices] == [
        ("zh:jm_kumo", ["zh"], ["zh"]),
        ("en:jm_kumo", ["en"], ["en"]),
    ]
    assert [v["id"] for v in voices if v["default"]] == ["en:jm_kumo"]  # alloy & co.
    for voice in ("zh-CN", "ZH:jf_alpha", "en-gb:jf_nezumi", "alloy"):
        response = await client.post(SPEECH, json=speech("好。", voice, response_format="wav"))
        assert response.status_code == 200, (voice, response.text)


# --- bad and odd input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"voice": "ja"}, "voice"),  # Japanese styles, but no Japanese phonemizer
        ({"voice": "ja:jm_kumo"}, "voice"),
        ({"voice": "zh:no_such_style"}, "voice"),
        ({"voice": "jm_kumo"}, "voice"),  # a style alone does not say which language
        ({"voice": ""}, "voice"),
        ({"input": ""}, "input"),
        ({"input": " \n\t "}, "input"),
        ({"speed": 0.2}, "speed"),
    ],
)
async def test_bad_input_gets_an_openai_shaped_400(
    client: httpx.AsyncClient, fields: dict[str, Any], param: str
) -> None:
    response = await client.post(SPEECH, json=speech("你好。", "zh") | fields)
    assert_error(response, 400, param=param)


@pytest.mark.parametrize(
    "text",
    [
        "...",
        "a\x00b\x07c",
        "-v xx --help",
        "USD 9.99，九块九，SKU YW-8823。",
    ],
)
async def test_odd_but_valid_input_is_spoken_never_a_500(
    client: httpx.AsyncClient, text: str
) -> None:
    for voice in ("zh", "en"):
        response = await client.post(SPEECH, json=speech(text, voice, response_format="wav"))
        assert response.status_code == 200, response.text
        rate, samples = decode(response.content, "wav")[2:]
        if text == "...":
            assert len(samples) < rate  # nothing to say: a moment of silence


async def test_a_sentence_longer_than_the_model_context_is_spoken_whole(
    client: httpx.AsyncClient,
) -> None:
    text = "word " * 100  # ~600 phoneme tokens with no punctuation; Kokoro takes 510 at a time
    response = await client.post(SPEECH, json=speech(text, "en", response_format="wav"))
    assert response.status_code == 200, response.text
    rate, samples = decode(response.content, "wav")[2:]
    assert len(samples) / rate > 20  # all hundred words, ~0.3 s each


# --- which model speaks a language -----------------------------------------------------------
async def test_tts_1_speaks_each_language_with_its_configured_model(
    app_client: AppClient, espeak_spec: ModelSpec, kokoro_spec: ModelSpec
) -> None:
    """espeak-ng (first, alias tts-1) is the fallback; zh is Kokoro's by config."""
    routes = RegistrySettings(tts_by_language={"zh": "kokoro-82m"})
    async with app_client([espeak_spec, kokoro_spec], registry=routes) as client:

        async def loaded() -> dict[str, bool]:
            models = (await client.get("/v1/models")).json()["data"]
            return {m["id"]: m["loaded"] for m in models}

        for body in (
            {"model": "espeak", "voice": "zh"},  # the model by its own name: as asked
            {"model": "tts-1", "voice": "en"},  # no neural voice configured for en
            {"model": "tts-1", "voice": "alloy"},
        ):
            response = await client.post(SPEECH, json=body | {"input": "你好。"})
            assert response.status_code == 200, response.text
        assert await loaded() == {"espeak": True, "kokoro-82m": False}
        response = await client.post(
            SPEECH, json={"model": "tts-1", "voice": "zh-CN", "input": "你好。"}
        )
        assert response.status_code == 200, response.text
        assert await loaded() == {"espeak": True, "kokoro-82m": True}


async def test_language_routes_name_configured_tts_models(
    espeak_spec: ModelSpec, kokoro_spec: ModelSpec, tmp_path: Path
) -> None:
    specs = [espeak_spec, kokoro_spec]
    routes = RegistrySettings(tts_by_language={"zh": "kokoro-82m", "en": "tts-1"})
    registry = ModelRegistry(specs, tmp_path, routes)
    assert [registry.tts_for(lang).id for lang in ("zh", "zh-Hans-CN", "en_US", "de")] == [
        "kokoro-82m",
        "kokoro-82m",
        "espeak",
        "espeak",
    ]
    await registry.close()
    with pytest.raises(ValueError, match="tts_by_language"):
        ModelRegistry(specs, tmp_path, RegistrySettings(tts_by_language={"zh": "whisper-1"}))


async def test_dubbing_job_voices_each_language_with_its_configured_model(
    tmp_path: Path,
    video_model_specs: list[ModelSpec],
    kokoro_spec: ModelSpec,
    clips: dict[str, Clip],
) -> None:
    routes = RegistrySettings(tts_by_language={"zh": "kokoro-82m"})
    app = create_app(make_settings(tmp_path, [*video_model_specs, kokoro_spec], registry=routes))
    async with running(app) as client:
        clip = clips["portrait_silent"]
        fields = {"languages": "zh,en", "keywords": "保温杯,steel bottle"}
        with clip.path.open("rb") as f:
            files = {"file": (clip.path.name, f, "video/mp4")}
            response = await client.post("/v1/video/dubbings", data=fields, files=files)
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["input"]["tts_models"] == {"zh": "kokoro-82m", "en": "espeak"}
        async with asyncio.timeout(300):
            while job["state"] not in ("succeeded", "failed", "cancelled"):
                await asyncio.sleep(0.5)
                job = (await client.get(f"/v1/jobs/{job['id']}")).json()
        assert job["state"] == "succeeded", job["error"]
        assert set(job["result"]["languages"]) == {"zh", "en"}
        models = (await client.get("/v1/models")).json()["data"]
        assert {m["id"] for m in models if m["kind"] == "tts" and m["loaded"]} == {
            "kokoro-82m",
            "espeak",
        }
