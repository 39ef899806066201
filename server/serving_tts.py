"""Serving logic of text-to-speech: resolve model and voice, speak sentence by sentence, encode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import numpy as np
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from models.tts.base import SpeechAudio, SpeechBackend
from models.tts.encode import OUTPUT_FORMATS, encode_stream
from server.errors import APIError
from server.metering import Meter
from server.schemas.tts import SpeechRequest, VoiceCard, VoiceList
from server.serving_base import Lease, ModelService

log = logging.getLogger(__name__)

_SILENCE_S = 0.1  # what input with nothing to pronounce (e.g. "...") sounds like


@dataclass
class Speech:
    """An answer whose audio is still being made: iterate `chunks` once, then `aclose()`."""

    chunks: AsyncGenerator[bytes, None]
    media_type: str
    release: Callable[[], Awaitable[None]]  # gives the model back if `chunks` never started

    async def aclose(self) -> None:
        """Stop making audio; the model is given back once the sentence being made is done."""
        await self.chunks.aclose()
        await self.release()


class SpeechResponse(StreamingResponse):
    """Streams a `Speech` and releases it however the response ends (even before it began)."""

    def __init__(self, speech: Speech) -> None:
        super().__init__(speech.chunks, media_type=speech.media_type)
        self.speech = speech

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.speech.aclose()


class SpeechService(ModelService[SpeechBackend]):
    kind = "tts"

    async def speak(self, body: SpeechRequest) -> Speech:
        """Check everything and make the first sentence before answering, so errors stay JSON."""
        if body.stream_format != "audio":
            raise APIError(
                400,
                "stream_format 'sse' is not supported; use 'audio' (audio bytes are streamed "
                "as they are produced).",
                param="stream_format",
                code="unsupported_value",
            )
        spec = self.resolve(body.model)
        if body.model != spec.id and spec.id == self.registry.default("tts").id:
            # tts-1 & co. (aliases of the fallback model) mean "the configured voice of the
            # language": voice "zh" may be spoken by another model (registry.tts_by_language)
            spec = self.registry.tts_for(body.voice)
        # the in-flight place and the model are held until the audio is made
        lease = await self.lease(spec)
        sentences: AsyncGenerator[SpeechAudio, None] | None = None
        try:
            backend = lease.backend
            voice = backend.resolve_voice(body.voice)
            sentences = _in_thread(backend.synthesize_sentences(body.input, voice))
            first = await anext(sentences, None)
            if first is None:
                rate = OUTPUT_FORMATS[body.response_format].sample_rate
                first = SpeechAudio(np.zeros(int(rate * _SILENCE_S), np.int16), rate)
        except BaseException:
            if sentences is not None:
                await sentences.aclose()
            await lease.release()
            raise
        return _stream(body, first, sentences, lease, self.meter)

    async def voices(self, model: str | None) -> VoiceList:
        specs = (
            [self.resolve(model)]
            if model
            else [s for s in self.registry.specs() if s.kind == "tts"]
        )
        cards: list[VoiceCard] = []
        for spec in specs:  # read from the config and files: no model is loaded
            catalogue = await self.registry.voices(spec.id)
            mapped: dict[str, list[str]] = {}
            for lang, voice_id in catalogue.language_voices.items():
                mapped.setdefault(voice_id, []).append(lang)
            cards += [
                VoiceCard(
                    id=voice.id,
                    model=spec.id,
                    name=voice.name,
                    languages=list(voice.languages),
                    gender=voice.gender,
                    default_for=sorted(mapped.get(voice.id, [])),
                    default=voice.id == catalogue.default_voice,
                )
                for voice in catalogue.voices
            ]
        return VoiceList(data=cards)


def _stream(
    body: SpeechRequest,
    first: SpeechAudio,
    sentences: AsyncGenerator[SpeechAudio, None],
    lease: Lease[SpeechBackend],
    meter: Meter,
) -> Speech:
    """Wire the sentences into the encoder; the model is given back once they are closed."""
    started = False

    async def audio() -> AsyncGenerator[SpeechAudio, None]:
        # Iterated and closed by the encoder's own task, so this clean-up always runs whole.
        nonlocal started
        started = True
        spoken_s = first.duration_s
        try:
            yield first
            async for chunk in sentences:
                spoken_s += chunk.duration_s
                yield chunk
        finally:
            await sentences.aclose()
            await lease.release()
            # what was made, as long as it plays (speed changes the tempo, not the words)
            await meter.record(audio_seconds_synthesized=round(spoken_s / body.speed, 3))

    async def encoded() -> AsyncGenerator[bytes, None]:
        chunks = encode_stream(audio(), body.response_format, first.sample_rate, body.speed)
        try:
            async for block in chunks:
                yield block
        except Exception:
            # The status line is sent: all that is left is to cut the stream short.
            log.exception("speech stream of model %s failed", lease.spec.id)
            raise
        finally:
            await chunks.aclose()

    async def release_unstarted() -> None:
        if not started:  # the encoder never took the sentences: nothing else will close them
            await sentences.aclose()
            await lease.release()

    return Speech(encoded(), OUTPUT_FORMATS[body.response_format].media_type, release_unstarted)


async def _in_thread(items: Iterator[SpeechAudio]) -> AsyncGenerator[SpeechAudio, None]:
    """Step a blocking generator in worker threads, one item per hop, off the event loop."""
    done = object()
    step: asyncio.Future[object] | None = None
    try:
        while True:
            step = asyncio.ensure_future(asyncio.to_thread(next, items, done))
            # Shielded: if the caller goes away mid-sentence, the thread still owns the
            # generator until that sentence is done, and only then may it be closed.
            item = await asyncio.shield(step)
            step = None
            if item is done:
                return
            assert isinstance(item, SpeechAudio)
            yield item
    finally:
        if step is not None:
            await asyncio.gather(step, return_exceptions=True)
        close = getattr(items, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
