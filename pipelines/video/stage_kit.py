"""What every stage of a dubbing job shares: its input, its ffmpeg, and how it is timed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import numpy as np

from models.asr import TranscriptionBackend
from pipelines.coverage import result_warnings
from pipelines.languages import Language, load_languages
from pipelines.platform.jobs.context import JobContext
from pipelines.video.dubbing_input import DubbingInput
from pipelines.video.ffmpeg import FFmpeg, MediaInfo, kill_children

log = logging.getLogger(__name__)

T = TypeVar("T")
NO_SPEECH_PROB = 0.6  # Whisper segments more likely silence than this are not speech


def job_input(ctx: JobContext) -> DubbingInput:
    assert isinstance(ctx.input, DubbingInput)
    return ctx.input


def job_ffmpeg(ctx: JobContext) -> FFmpeg:
    return FFmpeg(ctx.work_dir, ctx.services.settings.video.ffmpeg_timeout_s)


def job_media(ctx: JobContext) -> MediaInfo:
    return MediaInfo(**ctx.checkpoint["media"])


def job_languages(ctx: JobContext) -> list[Language]:
    catalogue = load_languages()
    return [catalogue.get(code, "languages") for code in job_input(ctx).languages]


@asynccontextmanager
async def inference_span(ctx: JobContext, kind: str) -> AsyncIterator[None]:
    """Record the span of one model call, so the bench can tell inference from the rest."""
    started = time.time()
    try:
        yield
    finally:
        spans = ctx.checkpoint.setdefault("timings", {}).setdefault("inference", [])
        spans.append([kind, started, time.time()])


async def gather_progress(ctx: JobContext, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run `calls` concurrently, reporting the share done as the stage's progress."""
    done = 0

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        nonlocal done
        result = await call()
        done += 1
        await ctx.progress(done / len(calls))
        return result

    return list(await asyncio.gather(*(one(c) for c in calls)))


def timed(run: Callable[[JobContext], Awaitable[None]]) -> Callable[[JobContext], Awaitable[None]]:
    """Wrap a stage so that its wall time lands in the checkpoint (and the job's result), and so
    that cancelling it kills the ffmpeg children it left running in the job folder."""

    name = run.__name__.removesuffix("_stage").lstrip("_")

    async def stage(ctx: JobContext) -> None:
        started = time.monotonic()
        spans_before = len(ctx.checkpoint.get("timings", {}).get("inference", []))
        try:
            await run(ctx)
        except asyncio.CancelledError:  # cancelled job (or shutdown): its ffmpeg stops too
            killed = kill_children(ctx.work_dir)
            if killed:
                log.info("job %s: killed %d ffmpeg processes", ctx.job_id, killed)
            raise
        recorded = ctx.checkpoint.setdefault("timings", {})
        recorded.setdefault("stages", {})[name] = round(time.monotonic() - started, 3)
        # which stage asked the models: a re-dub shows none in transcribe and script
        by_stage = recorded.setdefault("inference_stages", {})
        by_stage[name] = _per_kind(recorded.get("inference", [])[spans_before:])
        if ctx.result is not None:
            ctx.result["timings"] = timings(ctx)
            _add_language_warnings(ctx, ctx.result)

    stage.__name__ = run.__name__
    return stage


def _add_language_warnings(ctx: JobContext, result: dict[str, Any]) -> None:
    """The languages the chat model is not rated good in, once, in the job's result."""
    params = job_input(ctx)
    if params.chat_model is None or params.mode == "own":  # no chat model writes a word
        return
    warnings = result.setdefault("warnings", [])
    for warning in result_warnings(ctx.services, params.chat_model, params.languages):
        entry = warning.model_dump()
        if entry not in warnings:
            warnings.append(entry)


def timings(ctx: JobContext) -> dict[str, Any]:
    """Stage wall times, model time per kind, and the share of the job that was not inference."""
    timings = ctx.checkpoint.get("timings", {})
    by_stage = timings.get("inference_stages", {})
    spans = sorted((start, end) for _, start, end in timings.get("inference", []))
    covered, reach = 0.0, float("-inf")
    for start, end in spans:  # union of the spans: concurrent calls count once
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return {"stages_s": timings.get("stages", {}),
            "inference_s": _per_kind(timings.get("inference", [])),
            "inference_stages_s": {k: v for k, v in by_stage.items() if v},
            "inference_wall_s": round(covered, 3)}  # fmt: skip


def _per_kind(spans: list[list[Any]]) -> dict[str, float]:
    """Model time per kind ("asr", "chat", "tts") of `spans` ([kind, start, end] each)."""
    per_kind: dict[str, float] = {}
    for kind, start, end in spans:
        per_kind[kind] = round(per_kind.get(kind, 0.0) + end - start, 3)
    return per_kind


# Whisper writes Mandarin in traditional characters about as often as in simplified ones; a
# prompt in the wanted script settles it (otherwise a QA CER counts every character twice).
WHISPER_PROMPTS = {"zh": "以下是普通话的句子。", "zh-Hant": "以下是普通話的句子。"}


async def transcribe_pcm(
    ctx: JobContext,
    pcm: np.ndarray,
    language: Language | None,
    *,
    words: bool,
    beam_size: int | None = None,
    vad: bool = True,
) -> dict[str, Any]:
    """Whisper on 16 kHz mono `pcm`: language, text and the speech segments (with words).

    Only what voice activity detection hears as speech is decoded: a clip of silence, music
    or a tone has no segments, rather than words Whisper invents that a dub would translate.
    QA passes vad=False: it must hear all of the dubbed voice, which VAD may clip.
    """
    params = job_input(ctx)
    assert params.asr_model is not None
    async with (
        ctx.services.registry.use(params.asr_model, kind="asr") as asr,
        inference_span(ctx, "asr"),
    ):
        return await asyncio.to_thread(
            transcribe_with, asr, pcm, language, words=words, beam_size=beam_size, vad=vad
        )


def transcribe_with(
    asr: TranscriptionBackend,
    pcm: np.ndarray,
    language: Language | None,
    *,
    words: bool,
    beam_size: int | None = None,
    vad: bool = True,
) -> dict[str, Any]:
    """transcribe_pcm on a Whisper already lent (blocking)."""
    code = (language.whisper_code or language.code) if language and language.whisper else None
    prompt = WHISPER_PROMPTS.get(language.code) if language else None
    result = asr.transcribe(
        pcm, language=code, prompt=prompt, word_timestamps=words, beam_size=beam_size,
        vad_filter=vad,
    )  # fmt: skip
    segments: list[dict[str, Any]] = [
        {
            "start": s.start,
            "end": s.end,
            "text": s.text.strip(),
            "words": [[w.start, w.end, w.word] for w in s.words],
        }
        for s in result.segments
        if s.text.strip() and s.no_speech_prob < NO_SPEECH_PROB
    ]
    text = " ".join(s["text"] for s in segments)
    return {"language": result.language, "text": text, "segments": segments}
