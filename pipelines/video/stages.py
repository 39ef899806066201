"""The stages of a dubbing job; each reads the checkpoint, does its step, and writes it back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import asdict
from typing import Any

import numpy as np

from pipelines.errors import InvalidInput
from pipelines.languages import Language, load_languages
from pipelines.platform.jobs.context import JobContext
from pipelines.platform.uploads import take_upload
from pipelines.quality import degeneration_problems
from pipelines.subtitles import cues_for_line, to_srt, to_vtt
from pipelines.text.faithfulness_findings import glossary_texts
from pipelines.text.grounding import ungrounded_facts
from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput
from pipelines.video.audio import (
    MixOptions,
    extract_audio,
    mix,
    onset_s,
    read_wav,
    time_stretch,
    trim_silence,
    write_wav,
)
from pipelines.video.dubbing_input import DubbingInput
from pipelines.video.ffmpeg import MediaInfo, probe
from pipelines.video.fit import FitPolicy, FittedLine, Slot, assemble, fit_lines
from pipelines.video.mux import DubTrack, mux
from pipelines.video.own_script import script_lines
from pipelines.video.parent import INPUT_NAME, take_parent
from pipelines.video.script import (
    ScriptLine,
    ScriptRequest,
    budget,
    clean_for_tts,
    shorten_line,
    units,
    write_script,
)
from pipelines.video.spoken import required_facts
from pipelines.video.stage_kit import (
    gather_progress,
    inference_span,
    job_ffmpeg,
    job_input,
    job_languages,
    job_media,
    timed,
    transcribe_pcm,
)

log = logging.getLogger(__name__)

END_MARGIN_S = 0.05  # the voice stops at least this long before the clip does
LINE_GAP_S = 0.1  # and this long before the next line starts
MIN_SLOT_S = 0.8  # shorter speech segments are joined to their neighbour (translate mode)
MERGE_GAP_S = 0.5


# --- 1. probe -----------------------------------------------------------------------------------
async def _probe_stage(ctx: JobContext) -> None:
    params = job_input(ctx)
    if params.parent_job is not None:  # a re-dub: its parent's clip, probed already
        await take_parent(ctx)
        return
    settings = ctx.services.settings
    assert params.upload_id is not None
    upload = await asyncio.to_thread(
        take_upload, settings.data_dir, params.upload_id, ctx.work_dir / INPUT_NAME
    )
    info = await asyncio.to_thread(probe, job_ffmpeg(ctx), upload, settings.video)
    ctx.checkpoint["media"] = asdict(info)
    ctx.checkpoint["upload"] = upload.name


# --- 2. transcribe ------------------------------------------------------------------------------
async def _transcribe_stage(ctx: JobContext) -> None:
    params, info, ff = job_input(ctx), job_media(ctx), job_ffmpeg(ctx)
    extracted = await asyncio.to_thread(extract_audio, ff, ff.path(ctx.checkpoint["upload"]), info)
    ctx.checkpoint["background"] = extracted.background_wav.name if extracted else None
    # a re-dub's transcript is its parent's; the user's own script needs none
    transcript = ctx.checkpoint.get("transcript")
    if extracted is not None and params.asr_model and params.mode != "own":
        pcm, _ = read_wav(extracted.asr_wav)
        source = load_languages().get(params.source_language) if params.source_language else None
        transcript = await transcribe_pcm(ctx, pcm, source, words=True)
    ctx.checkpoint["transcript"] = transcript
    if params.mode == "translate" and not (transcript and transcript["segments"]):
        raise InvalidInput(
            "The video has no speech to translate; use mode 'script' to write a new voice-over",
            param="mode",
            code="no_speech",
        )


# --- 3. script ----------------------------------------------------------------------------------
async def _script_stage(ctx: JobContext) -> None:
    params, info = job_input(ctx), job_media(ctx)
    transcript = ctx.checkpoint.get("transcript")
    languages = job_languages(ctx)
    if params.mode == "own":  # spoken as the user wrote it: no model is asked
        ctx.checkpoint["scripts"] = {lang.code: {"lines": [line.as_dict() for line in script_lines(
            params.scripts[lang.code], lang, info.duration_s, f"scripts.{lang.code}"
        )], "report": {"source": "user"}} for lang in languages}  # fmt: skip
        return
    assert params.chat_model is not None
    async with ctx.services.registry.use(params.chat_model, kind="chat") as chat:
        if params.mode == "script":
            request = ScriptRequest(
                keywords=tuple(params.keywords),
                product_facts=params.product_facts,
                transcript=transcript["text"] if transcript else "",
                duration_s=info.duration_s,
            )

            def writer(language: Language) -> Callable[[], Awaitable[Any]]:
                async def write() -> Any:
                    async with inference_span(ctx, "chat"):
                        return await write_script(chat, request, language, seed=params.seed)

                return write

            results = await gather_progress(ctx, [writer(lang) for lang in languages])
        else:
            assert transcript is not None
            translator = Translator(
                chat, params.chat_model, max_parallel=ctx.services.jobs.max_parallel_generations
            )

            def translation(language: Language) -> Callable[[], Awaitable[Any]]:
                async def translate() -> Any:
                    async with inference_span(ctx, "chat"):
                        return await _translated_script(translator, params, transcript, language)

                return translate

            results = await gather_progress(ctx, [translation(lang) for lang in languages])
    ctx.checkpoint["scripts"] = {
        lang.code: {"lines": [line.as_dict() for line in lines], "report": report}
        for lang, (lines, report) in zip(languages, results, strict=True)
    }


def speech_slots(transcript: dict[str, Any]) -> list[tuple[float, float, str]]:
    """(start, end, text) of each spoken segment, tightened to its first and last word.

    A segment too short to carry a translated line joins the one before it when they nearly
    touch; the slots come out ordered and never overlapping.
    """
    slots: list[tuple[float, float, str]] = []
    for segment in sorted(transcript["segments"], key=lambda s: s["start"]):
        words = segment["words"]
        start = words[0][0] if words else segment["start"]
        end = words[-1][1] if words else segment["end"]
        if end - start < 0.2:
            start, end = segment["start"], max(segment["end"], segment["start"] + 0.2)
        if slots:
            start = max(start, slots[-1][1])
            last_start, last_end, last_text = slots[-1]
            short = end - start < MIN_SLOT_S or last_end - last_start < MIN_SLOT_S
            if short and start - last_end < MERGE_GAP_S:
                slots[-1] = (last_start, max(end, last_end), f"{last_text} {segment['text']}")
                continue
        slots.append((start, max(end, start), segment["text"]))
    return slots


async def _translated_script(
    translator: Translator,
    params: DubbingInput,
    transcript: dict[str, Any],
    language: Language,
) -> tuple[list[ScriptLine], dict[str, Any]]:
    """Each spoken segment translated on its own (glossary and number checks included).

    A segment that fails the checks on every attempt is still voiced (a silent gap would be
    worse in a video): with the last candidate, or the source words where that candidate is
    empty, degenerate or states a fact the source does not (pipelines.text.grounding). The
    report then says `source: fallback` and names each such line.
    """
    slots = speech_slots(transcript)
    request = TranslationInput(
        text=[text for _, _, text in slots],
        source_language=params.source_language or transcript["language"],
        target_languages=[language.code],
        glossary_entries=params.glossary_entries,
        on_failure="report",
        seed=params.seed,
    )
    result = await translator.translate(request)
    glossary = glossary_texts(params.glossary_entries)
    lines, problems = [], []
    for (start, end, source), item in zip(slots, result.translations, strict=True):
        text = item.text
        if text is None:
            last = item.failures[0].output if item.failures else None
            # a candidate that loops, or states what the source does not, is never voiced
            grounds = [source, *glossary]
            unusable = not last or degeneration_problems(last) or ungrounded_facts(last, grounds)
            text = source if unusable or last is None else last
            problems.append({"source": source, "used": text, "problems": [
                p for f in item.failures for p in f.problems
            ]})  # fmt: skip
        lines.append(
            ScriptLine(round(start, 3), round(end, 3), text, budget(end - start, language))
        )
    report: dict[str, Any] = {"source": "translation", "attempts": sum(
        i.attempts for i in result.translations
    ), "problems": problems, "line_sources": {
        f"{line.start:.3f}": text for line, (_, _, text) in zip(lines, slots, strict=True)
    }}  # fmt: skip
    if problems:  # some lines are voiced unchecked: the QA verdict is at best "review"
        report |= {"source": "fallback", "fallback": "unchecked_translation"}
    return lines, report


# --- 4. voice -----------------------------------------------------------------------------------
async def _voice_stage(ctx: JobContext) -> None:
    params, info = job_input(ctx), job_media(ctx)
    languages = job_languages(ctx)
    registry = ctx.services.registry
    # the user's own words are never rewritten: a line too long is only sped up or cut
    own = params.mode == "own"
    policy = FitPolicy(max_shortenings=0 if own else params.max_shortenings)
    assert own or params.chat_model is not None
    shortener: AbstractAsyncContextManager[Any] = (
        nullcontext(None) if own else registry.use(params.chat_model, kind="chat")
    )
    async with shortener as chat:

        def voicer(language: Language) -> Callable[[], Awaitable[dict[str, Any]]]:
            async def voice() -> dict[str, Any]:
                lines = [ScriptLine(**d) for d in ctx.checkpoint["scripts"][language.code]["lines"]]
                # each language's own TTS model (a job submitted before tts_models: tts_model)
                tts_model = params.tts_models.get(language.code) or params.tts_model
                assert tts_model is not None
                async with registry.use(tts_model, kind="tts") as tts:
                    return await _voice_language(ctx, tts, chat, language, lines, info, policy)

            return voice

        results = await gather_progress(ctx, [voicer(lang) for lang in languages])
    ctx.checkpoint["voices"] = {
        lang.code: result for lang, result in zip(languages, results, strict=True)
    }


def _slots(lines: list[ScriptLine], duration_s: float) -> list[Slot]:
    """Each line may run on into the pause before the next line, never past the clip's end."""
    slots = []
    for i, line in enumerate(lines):
        hard = lines[i + 1].start if i + 1 < len(lines) else duration_s - END_MARGIN_S
        soft = hard - LINE_GAP_S if i + 1 < len(lines) else hard
        room = soft - line.start if soft - line.start > 0.1 else max(0.0, hard - line.start)
        slots.append(Slot(line.start, min(line.end - line.start, room), room))
    return slots


async def _voice_language(
    ctx: JobContext,
    tts: Any,
    chat: Any,
    language: Language,
    lines: list[ScriptLine],
    info: MediaInfo,
    policy: FitPolicy,
) -> dict[str, Any]:
    params, ff = job_input(ctx), job_ffmpeg(ctx)
    try:
        voice = tts.resolve_voice(params.voices.get(language.code) or language.code)
    except ValueError as exc:
        raise InvalidInput(str(exc), param="voices", code="unknown_voice") from exc

    spoken: dict[str, tuple[np.ndarray, int]] = {}  # a line refitted into more room is not re-said

    async def synthesize(text: str) -> tuple[np.ndarray, int]:
        if text not in spoken:
            async with inference_span(ctx, "tts"):
                audio = await asyncio.to_thread(tts.synthesize, clean_for_tts(text), voice)
            pcm = audio.pcm.astype(np.float32) / (32768.0 if audio.pcm.dtype == np.int16 else 1.0)
            spoken[text] = trim_silence(pcm, audio.sample_rate), audio.sample_rate
        return spoken[text]

    async def shorten(text: str, ratio: float, attempt: int) -> str | None:
        target = max(1, int(units(text, language) * ratio * 0.9))
        async with inference_span(ctx, "chat"):
            return await shorten_line(chat, text, language, target, attempt)

    async def stretch(pcm: np.ndarray, rate: int, speed: float) -> np.ndarray:
        name = f"stretch_{language.code}_{id(pcm)}"
        return await asyncio.to_thread(time_stretch, ff, pcm, rate, speed, name)

    # the lines with a price, MOQ or SKU are kept whole: a line without one gives way
    required = [bool(required_facts(line.text, language.code)) for line in lines]
    slots = _slots(lines, info.duration_s)
    results = await fit_lines(
        [line.text for line in lines], slots, required, synthesize, shorten, stretch, policy
    )
    fitted = [line for line in results if line is not None]
    dropped = [
        {"text": line.text, "start": line.start, "end": line.end}
        for line, result in zip(lines, results, strict=True)
        if result is None
    ]
    rate = fitted[0].rate if fitted else 22050
    track = assemble(fitted, info.duration_s, rate)
    wav = write_wav(ff.path(f"voice_{language.code}.wav"), track, rate)
    return {"wav": wav.name, "rate": rate, "lines": [_line_stats(f, track, rate) for f in fitted],
            "dropped": dropped}  # fmt: skip


def _line_stats(line: FittedLine, track: np.ndarray, rate: int) -> dict[str, Any]:
    """What the QA report says of a line; its drift is measured on the assembled track."""
    start = line.slot.start
    window = track[round(start * rate) : round((start + line.slot.room_s) * rate)]
    onset = onset_s(window, rate)
    return {
        "text": line.text,
        "original_text": line.original_text,
        "start": round(start, 3),
        "end": round(start + line.duration_s, 3),
        "planned_end": round(start + line.slot.target_s, 3),
        "synthesized_s": line.synthesized_s,
        "speed": line.speed,
        "shortenings": line.shortenings,
        "padded_s": line.padded_s,
        "trimmed_s": line.trimmed_s,
        "drift_ms": round(onset * 1000, 1) if onset is not None else None,
    }


# --- 5. mix -------------------------------------------------------------------------------------
async def _mix_stage(ctx: JobContext) -> None:
    params, info, ff = job_input(ctx), job_media(ctx), job_ffmpeg(ctx)
    options = MixOptions(
        mode=params.audio,
        duck_method=params.ducking,
        duck_gain_db=params.duck_gain_db,
        loudness_lufs=params.loudness_lufs,
    )
    background = ctx.checkpoint.get("background")
    background_wav = ff.path(background) if background else None

    def mixer(code: str) -> Callable[[], Awaitable[dict[str, float]]]:
        voice = ff.path(ctx.checkpoint["voices"][code]["wav"])
        out = ff.path(f"mixed_{code}.wav")
        return lambda: asyncio.to_thread(
            mix, ff, voice, background_wav, out, info.duration_s, options
        )

    codes = list(ctx.checkpoint["voices"])
    premixes = await gather_progress(ctx, [mixer(code) for code in codes])
    ctx.checkpoint["mixes"] = {
        code: {"wav": f"mixed_{code}.wav", "premix_lufs": stats.get("input_i")}
        for code, stats in zip(codes, premixes, strict=True)
    }


# --- 6. subtitles + mux -------------------------------------------------------------------------
async def _mux_stage(ctx: JobContext) -> None:
    params, info, ff = job_input(ctx), job_media(ctx), job_ffmpeg(ctx)
    tracks = []
    for code, voice in ctx.checkpoint["voices"].items():
        cues = [c for line in voice["lines"] for c in cues_for_line(
            line["start"], line["end"], line["text"], code
        )]  # fmt: skip
        ff.path(f"{code}.srt").write_text(to_srt(cues), encoding="utf-8")
        ff.path(f"{code}.vtt").write_text(to_vtt(cues), encoding="utf-8")
        mixed = ff.path(ctx.checkpoint["mixes"][code]["wav"])
        tracks.append(DubTrack(code, mixed, ff.path(f"{code}.srt"), ff.path(f"{code}.mp4")))
    upload = ff.path(ctx.checkpoint["upload"])
    reencoded = await asyncio.to_thread(mux, ff, upload, info, tracks, params.burn_in_subtitles)
    ctx.checkpoint["video_reencoded"] = reencoded


probe_stage = timed(_probe_stage)
transcribe_stage = timed(_transcribe_stage)
script_stage = timed(_script_stage)
voice_stage = timed(_voice_stage)
mix_stage = timed(_mix_stage)
mux_stage = timed(_mux_stage)
