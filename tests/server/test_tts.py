"""Text-to-speech over HTTP: every format decodes to what it declares, speed keeps its promise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from models.tts.base import split_sentences
from models.tts.encode import AUDIO_FORMATS, atempo_chain, ffmpeg_command
from models.tts.espeak import EspeakTTS
from server.app import create_app
from server.errors import APIError
from server.limits import InflightGate
from server.schemas.tts import SpeechRequest
from server.serving_tts import SpeechService
from tests.fixtures_server import AppClient, assert_error, make_settings
from tests.fixtures_tts import decode
from tests.live import live_server

SPEECH = "/v1/audio/speech"
SENTENCE = "Free shipping on every order of our steel water bottle."
# container (PyAV's demuxer name), decoders, sample rate
DECLARED = {
    "mp3": ("mp3", {"mp3", "mp3float"}, 24000),
    "opus": ("ogg", {"opus", "libopus"}, 48000),
    "aac": ("aac", {"aac"}, 24000),
    "flac": ("flac", {"flac"}, 24000),
    "wav": ("wav", {"pcm_s16le"}, 24000),
    "pcm": ("s16le", {"pcm_s16le"}, 24000),
}


def speech(text: str = SENTENCE, **fields: Any) -> dict[str, Any]:
    return {"model": "espeak", "input": text, "voice": "en", **fields}


@pytest.fixture(scope="module")
def espeak_seconds(espeak_spec: ModelSpec) -> float:
    """How long espeak-ng speaks SENTENCE at normal speed (the engine is deterministic)."""
    return EspeakTTS.load(espeak_spec, Path()).synthesize(SENTENCE, "en-us").duration_s


# --- formats and speed ------------------------------------------------------------------------
@pytest.mark.parametrize("speed", [1.0, 0.4, 2.5])
@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
async def test_every_format_decodes_to_its_codec_rate_and_a_duration_scaled_by_speed(
    app_client: AppClient, espeak_spec: ModelSpec, espeak_seconds: float, fmt: str, speed: float
) -> None:
    async with app_client([espeak_spec]) as client:
        response = await client.post(SPEECH, json=speech(response_format=fmt, speed=speed))
    assert response.status_code == 200, response.text
    container, decoders, rate = DECLARED[fmt]
    got_container, decoder, got_rate, samples = decode(response.content, fmt)
    assert (got_container, got_rate) == (container, rate)
    assert decoder in decoders
    expected = espeak_seconds / speed
    # atempo is exact to a few %, lossy codecs add up to ~0.1 s of priming/padding
    assert abs(len(samples) / rate - expected) <= 0.04 * expected + 0.12
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence


def test_speed_outside_half_to_double_is_a_chain_of_atempo_filters() -> None:
    assert atempo_chain(1.0) == []
    assert atempo_chain(4.0) == [2.0, 2.0]
    assert atempo_chain(0.25) == [0.5, 0.5]
    chain = atempo_chain(3.0)
    assert all(0.5 <= f <= 2.0 for f in chain) and np.prod(chain) == pytest.approx(3.0)
    cmd = ffmpeg_command("opus", 22050, 0.3)
    assert cmd[cmd.index("-protocol_whitelist") + 1] == "pipe"
    assert cmd[cmd.index("-af") + 1] == "atempo=0.5,atempo=0.6"
    with pytest.raises(ValueError):
        atempo_chain(4.5)


async def test_content_type_names_the_format_and_the_openapi_document_lists_them(
    app_client: AppClient, espeak_spec: ModelSpec
) -> None:
    async with app_client([espeak_spec]) as client:
        for fmt, media_type in (("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("pcm", "audio/pcm")):
            response = await client.post(SPEECH, json=speech("Hi.", response_format=fmt))
            assert response.headers["content-type"] == media_type
        documented = (await client.get("/openapi.json")).json()["paths"][SPEECH]["post"]
        assert "audio/mpeg" in documented["responses"]["200"]["content"]


# --- voices and languages ---------------------------------------------------------------------
async def test_language_codes_and_openai_voice_names_pick_the_mapped_voice(
    app_client: AppClient, espeak_spec: ModelSpec
) -> None:
    async with app_client([espeak_spec]) as client:

        async def wav(voice: str | dict[str, str], text: str) -> bytes:
            body = speech(text, voice=voice, response_format="wav")
            response = await client.post(SPEECH, json=body)
            assert response.status_code == 200, response.text
            return response.content

        chinese = "你好，欢迎光临我们的店铺。"
        mandarin = await wav("cmn", chinese)
        assert await wav("zh", chinese) == mandarin  # the configured map: zh -> cmn
        assert await wav("zh-CN", chinese) == mandarin  # region falls back to the language
        assert await wav("yue", chinese) != mandarin  # Cantonese is another voice
        english = await wav("en-us", SENTENCE)
        assert await wav("alloy", SENTENCE) == english  # OpenAI names: the default voice
        assert await wav({"id": "en"}, SENTENCE) == english  # object form of `voice`


async def test_voices_are_listed_with_languages_and_the_codes_that_pick_them(
    app_client: AppClient, espeak_spec: ModelSpec
) -> None:
    async with app_client([espeak_spec]) as client:
        listed = (await client.get("/v1/audio/voices")).json()
        assert listed["object"] == "list"
        voices = {v["id"]: v for v in listed["data"]}
        assert len({lang for v in voices.values() for lang in v["languages"]}) >= 100
        assert "zh" in voices["cmn"]["default_for"] and "zh" in voices["cmn"]["languages"]
        assert voices["en-us"]["default"] and "en" in voices["en-us"]["default_for"]
        assert voices["cmn"]["model"] == "espeak" and voices["cmn"]["gender"] == "male"
        by_alias = (await client.get("/v1/audio/voices", params={"model": "tts-1"})).json()
        assert len(by_alias["data"]) == len(voices)
        assert_error(
            await client.get("/v1/audio/voices", params={"model": "nope"}), 404, param="model"
        )


def test_sentences_are_cut_at_latin_and_cjk_punctuation() -> None:
    assert split_sentences("One. Two? 三。四！Five\n\nsix") == [
        "One.",
        "Two?",
        "三。",
        "四！",
        "Five",
        "six",
    ]
    assert split_sentences(" \n ") == []


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"voice": "klingon-warrior"}, "voice"),
        ({"voice": ""}, "voice"),
        ({"response_format": "ogg"}, "response_format"),
        ({"input": ""}, "input"),
        ({"input": " \n\t "}, "input"),
        ({"input": "a" * 4097}, "input"),
        ({"speed": 0.2}, "speed"),
        ({"speed": 4.01}, "speed"),
        ({"speed": "fast"}, "speed"),
        ({"voice": None}, "voice"),
        ({"stream_format": "sse"}, "stream_format"),
    ],
)
async def test_bad_input_gets_an_openai_shaped_400(
    app_client: AppClient, espeak_spec: ModelSpec, fields: dict[str, Any], param: str
) -> None:
    async with app_client([espeak_spec]) as client:
        assert_error(await client.post(SPEECH, json=speech(**fields)), 400, param=param)


async def test_unknown_model_is_404_and_a_missing_field_is_400(
    app_client: AppClient, espeak_spec: ModelSpec
) -> None:
    async with app_client([espeak_spec]) as client:
        assert_error(await client.post(SPEECH, json=speech(model="tts-9")), 404, param="model")
        missing = speech()
        del missing["voice"]
        assert_error(await client.post(SPEECH, json=missing), 400, param="voice")
        bad_json = await client.post(
            SPEECH, content=b"{", headers={"content-type": "application/json"}
        )
        assert_error(bad_json, 400, param=None)


@pytest.mark.parametrize(
    "text",
    [
        "...",
        "🙂🙂",
        "-v xx --help",
        "[[h@'loU]] <speak>hi</speak>",
        "a\x00b\x07c",
        "a" * 4096,
        "Price: 9.99 USD — 价格：九块九。Prix : 9,99 €",
    ],
)
async def test_odd_but_valid_input_is_spoken_never_a_500(
    app_client: AppClient, espeak_spec: ModelSpec, text: str
) -> None:
    async with app_client([espeak_spec]) as client:
        response = await client.post(SPEECH, json=speech(text, response_format="wav"))
    assert response.status_code == 200, response.text
    assert decode(response.content, "wav")[2] == 24000


@pytest.mark.parametrize("engine", ["espeak_spec", "piper_spec", "kokoro_spec"])
def test_control_characters_are_dropped_alike_by_every_engine_and_the_connection_stays_usable(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec: ModelSpec = request.getfixturevalue(engine)
    app = create_app(make_settings(tmp_path, [spec]))
    body = {"model": spec.id, "voice": "en", "response_format": "wav"}
    # one connection, kept alive: each answer must leave it ready for the next request
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=120, limits=limits) as client:
        answers = [
            client.post(SPEECH, json=body | {"input": "Hello\x00 there\x07.\x1b[31m"}),
            client.post(SPEECH, json=body | {"input": "\x00\x01 \x7f\t"}),  # nothing to say
            client.post(SPEECH, json=body | {"input": "Hello there."}),
        ]
        ports = {a.extensions["network_stream"].get_extra_info("client_addr")[1] for a in answers}
    assert answers[0].status_code == 200, answers[0].text
    assert decode(answers[0].content, "wav")[3].size > 0
    assert_error(answers[1], 400, param="input")
    assert answers[2].status_code == 200, answers[2].text
    assert len(ports) == 1  # all three went over the same connection


# --- Piper (real English voice) -----------------------------------------------------------
async def test_piper_speaks_with_the_real_voice_from_the_model_folder(
    app_client: AppClient, piper_spec: ModelSpec
) -> None:
    async with app_client([piper_spec]) as client:
        voices = (await client.get("/v1/audio/voices")).json()["data"]
        assert [(v["id"], v["languages"]) for v in voices] == [
            ("en_US-joe-medium", ["en-us", "en"])
        ]
        body = {"model": "piper-joe", "input": SENTENCE, "voice": "en", "response_format": "flac"}
        response = await client.post(SPEECH, json=body)
        assert response.status_code == 200, response.text
        _, decoder, rate, samples = decode(response.content, "flac")
        assert (decoder, rate) == ("flac", 24000)
        assert 2.0 < len(samples) / rate < 6.0
        assert np.sqrt(np.mean(samples**2)) > 0.02
        quiet = await client.post(SPEECH, json=body | {"input": "..."})  # nothing to say
        assert quiet.status_code == 200 and len(decode(quiet.content, "flac")[3]) < rate


def test_piper_streams_the_first_sentence_before_the_last_is_spoken(
    piper_spec: ModelSpec, tmp_path: Path
) -> None:
    text = " ".join([SENTENCE] * 5)
    app = create_app(make_settings(tmp_path, [piper_spec], max_inflight_per_model=1))
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        body = {
            "model": "piper-joe",
            "input": "Warm up.",
            "voice": "alloy",
            "response_format": "pcm",
        }
        assert client.post(SPEECH, json=body).status_code == 200  # loads the voice
        start = time.monotonic()
        first = None
        with client.stream("POST", SPEECH, json=body | {"input": text}) as response:
            assert response.headers.get("transfer-encoding") == "chunked"
            for _ in response.iter_raw():
                first = first or time.monotonic() - start
        total = time.monotonic() - start
        assert first is not None and first < 0.5 * total, (first, total)

        # Hanging up mid-sentence: the slot (cap 1) comes back once that sentence is made.
        with client.stream("POST", SPEECH, json=body | {"input": text}) as response:
            next(response.iter_raw())
        deadline = time.monotonic() + 10
        while (again := client.post(SPEECH, json=body)).status_code == 429:
            assert time.monotonic() < deadline, "the aborted stream kept its slot"
            time.sleep(0.1)
        assert again.status_code == 200


async def test_speech_that_is_never_sent_gives_its_slot_and_model_back(
    espeak_spec: ModelSpec, tmp_path: Path
) -> None:
    registry = ModelRegistry([espeak_spec], tmp_path, RegistrySettings())
    service = SpeechService(registry, InflightGate(1))
    request = SpeechRequest(model="espeak", input=SENTENCE, voice="en")
    speech = await service.speak(request)
    with pytest.raises(APIError) as full:
        await service.speak(request)
    assert full.value.status == 429
    await speech.aclose()  # e.g. the client left before the body was sent
    speech = await service.speak(request)
    try:
        assert len(b"".join([block async for block in speech.chunks])) > 1000
    finally:
        await speech.aclose()
        await registry.close()


# --- the official openai client on a real server -------------------------------------------
def test_openai_client_creates_speech_and_streams_it(
    espeak_spec: ModelSpec, tmp_path: Path
) -> None:
    app = create_app(make_settings(tmp_path, [espeak_spec], max_inflight_per_model=1))
    with live_server(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        whole = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE)
        assert decode(whole.content, "mp3")[0] == "mp3"

        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="zh", input="你好。" * 20, response_format="opus"
        ) as response:
            assert response.headers["content-type"] == "audio/ogg"
            chunks = list(response.iter_bytes())
        assert decode(b"".join(chunks), "opus")[2] == 48000

        # A reader that hangs up mid-stream gives its slot back (the cap here is 1 request).
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="en", input=SENTENCE * 40, response_format="wav"
        ) as response:
            next(response.iter_bytes(1024))
        deadline = time.monotonic() + 10
        while True:
            try:
                client.audio.speech.create(model="tts-1", voice="en", input="Again.")
                break
            except openai.RateLimitError:
                assert time.monotonic() < deadline, "the aborted stream kept its slot"
                time.sleep(0.1)

        with pytest.raises(openai.BadRequestError) as bad:
            client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
        assert bad.value.body["param"] == "voice"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            client.audio.speech.create(model="tts-9", voice="alloy", input="Hi.")
