"""The OpenAI audio API (transcriptions, translations) over HTTP, served by real faster-whisper."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jiwer
import numpy as np
import pytest
import pytest_asyncio
import srt
import webvtt
from faster_whisper import BatchedInferencePipeline
from openai import AsyncOpenAI

from models.spec import ModelSpec
from pipelines.settings import Settings
from server.app import create_app
from tests.fixtures_stt import (
    SENTENCE,
    SPEECH_CONTAINERS,
    tiny_whisper_spec,
    whisper_base_spec,
)
from tests.live import live_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

TRANSCRIBE = "/v1/audio/transcriptions"
TRANSLATE = "/v1/audio/translations"
# espeak-ng's rendering of SENTENCE, as PyAV decodes it
SPEECH_SECONDS = 3.8
MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "mp4": "video/mp4", "png": "image/png"}


def _specs(tiny: Path, base: Path | None) -> list[ModelSpec]:
    specs = [
        tiny_whisper_spec(tiny),
        # never loaded by these tests: every request to it fails before the model is needed
        tiny_whisper_spec(tiny, "tiny-whisper-short", max_audio_seconds=1),
        tiny_whisper_spec(
            tiny, "tiny-whisper-batched", batch_size=4, batch_min_seconds=5, vad_filter=True
        ),
    ]
    return [*specs, whisper_base_spec(base)] if base is not None else specs


def _settings(tmp: Path, specs: list[ModelSpec]) -> Settings:
    return Settings(models=specs, model_dir=tmp / "models", data_dir=tmp / "data")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tiny_whisper_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the module: the tiny model in three set-ups, and Whisper base when it exists."""
    try:
        base: Path | None = request.getfixturevalue("whisper_base_dir")
    except pytest.skip.Exception:
        base = None
    app = create_app(_settings(tmp_path_factory.mktemp("stt"), _specs(tiny_whisper_dir, base)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=120
        ) as c:
            yield c


def file_part(clip: Path) -> dict[str, tuple[str, bytes, str]]:
    mime = MIME.get(clip.suffix.lstrip("."), "application/octet-stream")
    return {"file": (clip.name, clip.read_bytes(), mime)}


async def upload(
    client: httpx.AsyncClient, clip: Path, **fields: str | list[str]
) -> httpx.Response:
    """POST `clip` to the transcriptions endpoint with these form fields."""
    return await client.post(TRANSCRIBE, files=file_part(clip), data=fields)


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return dict(error)


def word_error_rate(reference: str, hypothesis: str) -> float:
    def normal(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())

    return float(jiwer.wer(normal(reference), normal(hypothesis)))


def sse_payloads(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in body.splitlines()
        if line.startswith("data: ")
    ]


# --- input: containers and bad uploads (tiny model) ------------------------------------------
@pytest.mark.parametrize("container", SPEECH_CONTAINERS)
async def test_transcription_accepts_every_common_audio_and_video_container(
    client: httpx.AsyncClient, speech_clips: dict[str, Path], container: str
) -> None:
    response = await upload(client, speech_clips[container], model="tiny-whisper", language="en")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["text"], str)
    assert body["usage"]["type"] == "duration"
    assert body["usage"]["seconds"] == pytest.approx(SPEECH_SECONDS, abs=0.2)


@pytest.mark.parametrize(
    "case",
    [
        "invalid_audio:png",
        "no_audio_stream:silent_video",
        "invalid_audio:truncated_mp4",
        "invalid_audio:text",
        "invalid_audio:zero_bytes",
        "empty_audio:empty_wav",
    ],
)
async def test_a_file_that_is_not_usable_audio_gets_400_naming_the_file(
    client: httpx.AsyncClient, bad_uploads: dict[str, Path], case: str
) -> None:
    clip = bad_uploads[case]
    error = error_of(await upload(client, clip, model="tiny-whisper-short"))
    assert error["param"] == "file"
    assert error["code"] == case.split(":")[0]
    assert clip.name in error["message"]
    card = (await client.get("/v1/models/tiny-whisper-short")).json()
    assert card["loaded"] is False  # a bad upload is refused before any model is loaded


async def test_audio_longer_than_the_models_limit_gets_400(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    error = error_of(await upload(client, speech_clips["mp3"], model="tiny-whisper-short"))
    assert error["code"] == "audio_too_long"
    assert "1 s" in error["message"]


async def test_an_upload_over_the_size_cap_gets_413(
    tmp_path: Path, tiny_whisper_dir: Path, speech_clips: dict[str, Path]
) -> None:
    settings = _settings(tmp_path, [tiny_whisper_spec(tiny_whisper_dir)])
    settings.server.max_upload_bytes = 20_000
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as small:
        response = await upload(small, speech_clips["wav"], model="tiny-whisper")
    assert error_of(response, 413)["code"] == "request_too_large"


async def test_concurrent_requests_to_one_model_all_succeed(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    containers = ("mp3", "opus", "flac", "wav")
    responses = await asyncio.gather(
        *(upload(client, speech_clips[c], model="tiny-whisper") for c in containers)
    )
    assert [r.status_code for r in responses] == [200] * len(containers)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"language": "klingon"}, "language"),
        ({"language": "xx"}, "language"),
        ({"response_format": "xml"}, "response_format"),
        ({"timestamp_granularities[]": "sentence"}, "timestamp_granularities"),
        ({"temperature": "1.5"}, "temperature"),
        ({"temperature": "warm"}, "temperature"),
    ],
)
async def test_bad_request_fields_get_400_naming_the_field(
    client: httpx.AsyncClient, speech_clips: dict[str, Path], fields: dict[str, str], param: str
) -> None:
    error = error_of(await upload(client, speech_clips["wav"], model="tiny-whisper", **fields))
    assert error["param"] == param
    if param == "response_format":
        assert "verbose_json" in error["message"]


async def test_missing_file_or_unknown_model_is_refused(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    missing = error_of(await client.post(TRANSCRIBE, data={"model": "tiny-whisper"}))
    assert missing["param"] == "file"
    unknown = error_of(await upload(client, speech_clips["wav"], model="whisper-9000"), 404)
    assert unknown["code"] == "model_not_found"
    translation = await client.post(
        TRANSLATE, files=file_part(speech_clips["wav"]), data={"model": "no-such"}
    )
    error_of(translation, 404)


async def test_language_is_accepted_as_code_tag_or_name(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    for language in ("en", "en-US", "English"):
        response = await upload(
            client,
            speech_clips["wav"],
            model="tiny-whisper",
            language=language,
            response_format="verbose_json",
        )
        assert response.status_code == 200, response.text
        assert response.json()["language"] == "english"


# --- output shapes (tiny model) ----------------------------------------------------------------
async def test_verbose_json_has_language_duration_segments_and_words_inside_the_audio(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    response = await upload(
        client,
        speech_clips["m4a"],
        model="tiny-whisper",
        language="de",
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["segment", "word"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "transcribe"
    assert body["language"] == "german"
    duration = body["duration"]
    assert duration == pytest.approx(SPEECH_SECONDS, abs=0.2)
    segments = body["segments"]
    assert segments, body
    assert [s["id"] for s in segments] == list(range(len(segments)))
    for s in segments:
        assert set(s) >= {
            "id", "seek", "start", "end", "text", "tokens", "temperature",
            "avg_logprob", "compression_ratio", "no_speech_prob",
        }  # fmt: skip
        assert 0 <= s["start"] <= s["end"] <= duration
    words = body["words"]
    assert words
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= duration for w in words)
    assert body["text"] == "".join(s["text"] for s in segments).strip()


async def test_word_granularity_alone_leaves_segments_out(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    response = await upload(
        client,
        speech_clips["wav"],
        model="tiny-whisper",
        response_format="verbose_json",
        **{"timestamp_granularities[]": "word"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "segments" not in body
    assert body["words"]


async def test_a_clip_of_a_few_milliseconds_gets_word_timestamps_inside_it(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    response = await upload(
        client,
        speech_clips["blip"],
        model="tiny-whisper",
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["word", "segment"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration"] == pytest.approx(0.01, abs=0.005)
    for item in body["segments"] + body.get("words", []):
        assert 0 <= item["start"] <= item["end"] <= body["duration"]


async def test_text_format_is_plain_text(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    response = await upload(
        client, speech_clips["ogg"], model="tiny-whisper", response_format="text"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert not response.text.startswith("{")


async def test_stream_true_sends_each_segment_as_server_sent_events(
    client: httpx.AsyncClient, speech_clips: dict[str, Path]
) -> None:
    response = await upload(
        client, speech_clips["webm"], model="tiny-whisper", language="en", stream="true"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_payloads(response.text)
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "transcript.text.done"
    assert kinds.count("transcript.text.segment") == kinds.count("transcript.text.delta") >= 1
    segments = [e for e in events if e["type"] == "transcript.text.segment"]
    assert all(0 <= s["start"] <= s["end"] <= SPEECH_SECONDS + 0.2 for s in segments)
    deltas = "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta")
    assert events[-1]["text"] == deltas.strip()
    assert events[-1]["language"] == "english"


async def test_long_audio_goes_through_the_batched_pipeline_with_times_inside_the_audio(
    client: httpx.AsyncClient, long_speech_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched_calls: list[int] = []
    real_transcribe = BatchedInferencePipeline.transcribe

    def counting_transcribe(self: BatchedInferencePipeline, *args: Any, **kwargs: Any) -> Any:
        batched_calls.append(kwargs["batch_size"])
        return real_transcribe(self, *args, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", counting_transcribe)
    short = await upload(
        client, long_speech_clip.with_name("speech.wav"), model="tiny-whisper-batched"
    )
    assert short.status_code == 200, short.text
    assert batched_calls == []  # under batch_min_seconds: the plain sequential path

    response = await upload(
        client, long_speech_clip, model="tiny-whisper-batched", response_format="verbose_json"
    )
    assert response.status_code == 200, response.text
    assert batched_calls == [4]
    body = response.json()
    assert body["duration"] > 10
    assert body["segments"]
    starts = [s["start"] for s in body["segments"]]
    assert starts == sorted(starts)
    assert all(s["end"] <= body["duration"] for s in body["segments"])


# --- quality with the real Whisper base ------------------------------------------------------
@pytest.mark.real_weights
async def test_round_trip_espeak_to_whisper_base_has_word_error_rate_under_15_percent(
    client: httpx.AsyncClient, speech_clips: dict[str, Path], whisper_base_dir: Path
) -> None:
    response = await upload(client, speech_clips["wav"], model="whisper-base")
    assert response.status_code == 200, response.text
    assert word_error_rate(SENTENCE, response.json()["text"]) <= 0.15


def _wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.real_weights
async def test_vad_filter_gives_silence_and_a_tone_no_segments_and_keeps_speech(
    client: httpx.AsyncClient, speech_clips: dict[str, Path], whisper_base_dir: Path, tmp_path: Path
) -> None:
    second = np.arange(16_000) / 16_000
    clips = {
        "silence": _wav(tmp_path / "silence.wav", np.zeros(5 * 16_000)),
        "tone": _wav(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 1000 * second)),
    }
    for name, clip in clips.items():
        for endpoint in (TRANSCRIBE, TRANSLATE):
            fields = {"model": "whisper-base", "vad_filter": "true"}
            response = await client.post(
                endpoint, files=file_part(clip), data=fields | {"response_format": "verbose_json"}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["text"], body["segments"]) == ("", []), (name, endpoint, body["text"])
            assert body["duration"] == pytest.approx(5.0 if name == "silence" else 1.0)
    speech = await upload(client, speech_clips["wav"], model="whisper-base", vad_filter="true")
    assert word_error_rate(SENTENCE, speech.json()["text"]) <= 0.15


@pytest.mark.real_weights
async def test_srt_and_vtt_parse_with_subtitle_libraries_and_stay_inside_the_audio(
    client: httpx.AsyncClient, speech_clips: dict[str, Path], whisper_base_dir: Path
) -> None:
    srt_response = await upload(
        client, speech_clips["mp3"], model="whisper-base", language="en", response_format="srt"
    )
    assert srt_response.status_code == 200, srt_response.text
    cues = list(srt.parse(srt_response.text))
    assert cues
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))
    times = [(c.start.total_seconds(), c.end.total_seconds()) for c in cues]
    assert word_error_rate(SENTENCE, " ".join(c.content for c in cues)) <= 0.15

    vtt_response = await upload(
        client, speech_clips["mp3"], model="whisper-base", language="en", response_format="vtt"
    )
    assert vtt_response.status_code == 200, vtt_response.text
    assert vtt_response.text.startswith("WEBVTT")
    captions = webvtt.from_buffer(io.StringIO(vtt_response.text)).captions
    assert captions
    vtt_times = [(c.start_in_seconds + 0.0, c.end_in_seconds + 0.0) for c in captions]
    assert len(vtt_times) == len(times)
    for start, end in (*times, *vtt_times):
        assert 0 <= start <= end <= SPEECH_SECONDS + 0.2
    assert [s for s, _ in times] == sorted(s for s, _ in times)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(times))
    assert word_error_rate(SENTENCE, " ".join(c.text for c in captions)) <= 0.15


@pytest.mark.real_weights
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the client's translations
async def test_official_openai_client_transcribes_and_translates_against_a_live_server(
    tmp_path: Path, speech_clips: dict[str, Path], whisper_base_dir: Path
) -> None:
    app = create_app(_settings(tmp_path, [whisper_base_spec(whisper_base_dir)]))
    clip = ("order.m4a", speech_clips["m4a"].read_bytes())
    with live_server(app) as url:
        openai = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        plain = await openai.audio.transcriptions.create(model="whisper-1", file=clip)
        assert word_error_rate(SENTENCE, plain.text) <= 0.15

        verbose = await openai.audio.transcriptions.create(
            model="whisper-base",
            file=clip,
            language="en",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
        assert verbose.language == "english"
        assert verbose.duration == pytest.approx(SPEECH_SECONDS, abs=0.2)
        assert verbose.segments and verbose.words
        assert [w.word.lower().strip(".,") for w in verbose.words][:3] == ["thank", "you", "for"]

        translated = await openai.audio.translations.create(
            model="whisper-1", file=clip, response_format="text"
        )
        assert word_error_rate(SENTENCE, str(translated)) <= 0.15

        stream = await openai.audio.transcriptions.create(
            model="whisper-1", file=clip, language="en", stream=True
        )
        events = [event async for event in stream]
        assert events[-1].type == "transcript.text.done"
        assert word_error_rate(SENTENCE, events[-1].text) <= 0.15
        await openai.close()
