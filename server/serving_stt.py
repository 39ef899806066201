"""Serving logic of transcriptions and translations: decode the upload, transcribe, shape the answer."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from functools import partial

import numpy as np
from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from models.asr import (
    AudioDecodeError,
    Segment,
    Task,
    TranscriptionBackend,
    TranscriptStream,
    decode_audio,
    language_code,
    language_name,
)
from pipelines.subtitles import segment_cues, to_srt, to_vtt
from server import sse
from server.errors import APIError
from server.schemas.stt import (
    RESPONSE_FORMATS,
    TIMESTAMP_GRANULARITIES,
    DurationUsage,
    Transcription,
    TranscriptionRequest,
    TranscriptionSegment,
    TranscriptionVerbose,
    TranscriptionWord,
    TranscriptTextDeltaEvent,
    TranscriptTextDoneEvent,
    TranscriptTextSegmentEvent,
    TranslationRequest,
)
from server.serving_base import Lease, ModelService

log = logging.getLogger(__name__)

# The longest audio decoded for a model unless its options say `max_audio_seconds`.
DEFAULT_MAX_AUDIO_SECONDS = 3600.0


class SpeechToTextService(ModelService[TranscriptionBackend]):
    kind = "asr"

    async def transcribe(self, body: TranscriptionRequest, request: Request) -> Response:
        return await self._run(
            body, request, "transcribe", body.language, body.timestamp_granularities
        )

    async def translate(self, body: TranslationRequest, request: Request) -> Response:
        return await self._run(body, request, "translate", None, [])

    # --- one path for both --------------------------------------------------------------------
    async def _run(
        self,
        body: TranslationRequest,
        request: Request,
        task: Task,
        language: str | None,
        granularities: list[str],
    ) -> Response:
        spec = self.resolve(body.model)
        response_format = _response_format(body.response_format)
        granularity = _granularities(granularities)
        if not 0.0 <= body.temperature <= 1.0:
            raise APIError(
                400,
                f"temperature must be between 0 and 1, got {body.temperature:g}",
                param="temperature",
                code="invalid_value",
            )
        code = language_code(language) if language else None
        max_seconds = float(spec.options.get("max_audio_seconds", DEFAULT_MAX_AUDIO_SECONDS))
        words = "word" in granularity and (response_format == "verbose_json" or body.stream)

        lease = self.admit(spec)
        try:
            # decoded before the model is borrowed: a bad upload never loads a model
            audio = await run_in_threadpool(_decode_upload, body.file, max_seconds)
            backend = await self.borrow(lease)
            if code is not None:
                code = backend.check_language(code)
            stream = await run_in_threadpool(
                partial(
                    backend.stream,
                    audio,
                    language=code,
                    task=task,
                    prompt=body.prompt,
                    temperature=body.temperature,
                    word_timestamps=words,
                    vad_filter=body.vad_filter,
                )
            )
            # the whole upload is decoded and handed to the model: its length is what is used
            await self.meter.record(audio_seconds_transcribed=round(stream.duration, 3))
        except BaseException:
            await lease.release()
            raise

        if body.stream:
            return sse.event_stream(_events(lease, stream, task, words))
        async with lease:
            segments = [s async for s in _segments(stream.segments, request)]
        return _render(response_format, task, stream, segments, granularity)


# --- request checks ---------------------------------------------------------------------------
def _response_format(value: str) -> str:
    if value not in RESPONSE_FORMATS:
        raise APIError(
            400,
            f"Unsupported response_format '{value}'. Use one of: {', '.join(RESPONSE_FORMATS)}.",
            param="response_format",
            code="invalid_value",
        )
    return value


def _granularities(values: list[str]) -> set[str]:
    bad = [v for v in values if v not in TIMESTAMP_GRANULARITIES]
    if bad:
        raise APIError(
            400,
            f"Unsupported timestamp_granularities value '{bad[0]}'. Use 'segment', 'word' or both.",
            param="timestamp_granularities",
            code="invalid_value",
        )
    return set(values) or {"segment"}


def _decode_upload(upload: UploadFile, max_seconds: float) -> np.ndarray:
    upload.file.seek(0)
    try:
        return decode_audio(upload.file, max_seconds=max_seconds)
    except AudioDecodeError as exc:
        name = f" '{upload.filename}'" if upload.filename else ""
        raise APIError(400, f"File{name}: {exc}", param="file", code=exc.code) from exc


# --- running ----------------------------------------------------------------------------------
async def _segments(
    segments: Iterator[Segment], request: Request | None = None
) -> AsyncIterator[Segment]:
    """Decode segment by segment off the event loop; stop early if the client has gone."""
    while True:
        segment = await run_in_threadpool(next, segments, None)
        if segment is None:
            return
        yield segment
        if request is not None and await request.is_disconnected():
            log.info("client went away; transcription stopped after segment %d", segment.id)
            return


async def _events(
    lease: Lease[TranscriptionBackend], stream: TranscriptStream, task: Task, words: bool
) -> AsyncIterator[str]:
    """Server-sent events: a segment event and a text delta per segment, then the whole text."""
    async with lease:
        text = ""
        try:
            async for segment in _segments(stream.segments):
                segment_id = f"seg_{segment.id}"
                yield _event(
                    TranscriptTextSegmentEvent(
                        id=segment_id,
                        start=segment.start,
                        end=segment.end,
                        text=segment.text.strip(),
                        words=_words([segment]) if words else None,
                    )
                )
                delta = segment.text if text else segment.text.lstrip()
                text += delta
                yield _event(TranscriptTextDeltaEvent(delta=delta, segment_id=segment_id))
            yield _event(
                TranscriptTextDoneEvent(
                    text=text.strip(),
                    language=_language_of(stream, task),
                    duration=round(stream.duration, 3),
                )
            )
        except Exception as exc:  # the status line is sent; the error has to travel in-band
            log.exception("transcription failed mid-stream")
            body = APIError(500, f"transcription failed: {exc}").body()
            yield sse.data(json.dumps(body))


def _event(
    event: TranscriptTextSegmentEvent | TranscriptTextDeltaEvent | TranscriptTextDoneEvent,
) -> str:
    return sse.event(event, event.type, exclude_none=True)


# --- answers ----------------------------------------------------------------------------------
def _render(
    response_format: str,
    task: Task,
    stream: TranscriptStream,
    segments: list[Segment],
    granularity: set[str],
) -> Response:
    text = "".join(s.text for s in segments).strip()
    usage = DurationUsage(seconds=round(stream.duration, 3))
    if response_format == "text":
        return PlainTextResponse(text)
    if response_format == "srt":
        return PlainTextResponse(to_srt(segment_cues(segments)))
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(segment_cues(segments)), media_type="text/vtt")
    body: BaseModel
    if response_format == "json":
        body = Transcription(text=text, usage=usage)
    else:
        body = TranscriptionVerbose(
            task=task,
            language=_language_of(stream, task),
            duration=round(stream.duration, 3),
            text=text,
            segments=[_segment(s) for s in segments] if "segment" in granularity else None,
            words=_words(segments) if "word" in granularity else None,
            usage=usage,
        )
    return JSONResponse(body.model_dump(mode="json", exclude_none=True))


def _language_of(stream: TranscriptStream, task: Task) -> str:
    return "english" if task == "translate" else language_name(stream.language)


def _segment(segment: Segment) -> TranscriptionSegment:
    return TranscriptionSegment(
        id=segment.id,
        seek=segment.seek,
        start=segment.start,
        end=segment.end,
        text=segment.text,
        tokens=list(segment.tokens),
        temperature=segment.temperature,
        avg_logprob=segment.avg_logprob,
        compression_ratio=segment.compression_ratio,
        no_speech_prob=segment.no_speech_prob,
    )


def _words(segments: list[Segment]) -> list[TranscriptionWord]:
    return [
        TranscriptionWord(word=w.word.strip(), start=w.start, end=w.end, probability=w.probability)
        for s in segments
        for w in s.words
    ]
