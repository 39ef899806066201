"""The last stage of a dubbing job: measure each dubbed language (QA report) and publish its files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.asr import TranscriptionBackend
from pipelines.errors import OutputRejected
from pipelines.languages import Language, load_languages
from pipelines.platform.jobs.context import JobContext
from pipelines.video.audio import ASR_RATE, listen, read_wav, voice_over_background_db
from pipelines.video.dubbing_input import DubbingInput
from pipelines.video.ffmpeg import FFmpeg, MediaInfo
from pipelines.video.parent import SOURCE_ARTIFACT
from pipelines.video.qa import (
    CER_SCRIPTS,
    align,
    check_line,
    error_rates,
    facts_in_script,
    findings,
    line_report,
    voice_coverage,
    worst,
)
from pipelines.video.readback import read_back
from pipelines.video.script import clean_for_tts
from pipelines.video.settings import VideoQASettings
from pipelines.video.spoken import required_facts
from pipelines.video.stage_kit import (
    inference_span,
    job_ffmpeg,
    job_input,
    job_media,
    timed,
    timings,
    transcribe_with,
)

log = logging.getLogger(__name__)


async def _qa_stage(ctx: JobContext) -> None:
    params, info, ff = job_input(ctx), job_media(ctx), job_ffmpeg(ctx)
    codes = list(ctx.checkpoint["voices"])
    reports = ctx.checkpoint.setdefault("qa", {})
    for i, code in enumerate(codes):
        if code not in reports:
            reports[code] = await _qa_language(ctx, ff, info, code)
            await ctx.save((i + 1) / (len(codes) + 1))
    published: list[str] = ctx.checkpoint.setdefault("published", [])
    outputs: dict[str, Any] = {}
    for code in codes:
        script = {
            "language": code,
            "mode": params.mode,
            "source": ctx.checkpoint["scripts"][code]["report"],
            "lines": ctx.checkpoint["voices"][code]["lines"],
        }
        files: dict[str, Path | str] = {
            f"{code}.mp4": ff.path(f"{code}.mp4"),
            f"{code}.srt": ff.path(f"{code}.srt"),
            f"{code}.vtt": ff.path(f"{code}.vtt"),
            f"{code}.script.json": json.dumps(script, ensure_ascii=False, indent=2),
            f"{code}.qa.json": json.dumps(reports[code], ensure_ascii=False, indent=2),
        }
        if params.keep_intermediates:
            files[f"{code}.voice.wav"] = ff.path(ctx.checkpoint["voices"][code]["wav"])
            files[f"{code}.mixed.wav"] = ff.path(ctx.checkpoint["mixes"][code]["wav"])
        await _publish(ctx, files, published)
        outputs[code] = {"artifacts": list(files), "qa": reports[code]}
    if params.keep_intermediates:
        extra: dict[str, Path | str] = {
            "transcript.json": json.dumps(ctx.checkpoint.get("transcript"), indent=2)
        }
        if ctx.checkpoint.get("background"):
            extra["original_audio.wav"] = ff.path(ctx.checkpoint["background"])
        await _publish(ctx, extra, published)
    # kept so that the job can be re-dubbed; deleted with it
    await _publish(ctx, {SOURCE_ARTIFACT: ff.path(ctx.checkpoint["upload"])}, published)
    # a re-dub is a complete set: the languages it did not re-voice come from its parent
    outputs = {**ctx.checkpoint.get("carried", {}), **outputs}
    reports = {code: output["qa"] for code, output in outputs.items()}
    codes = list(outputs)
    verdict = worst([reports[code]["verdict"] for code in codes])
    reasons = [f"{code}: {reason}" for code in codes for reason in reports[code]["reasons"]]
    ctx.result = {
        "verdict": verdict,
        "reasons": reasons,
        "mode": params.mode,
        "parent_job": params.parent_job,
        "input": {
            "duration_s": info.duration_s,
            "width": info.width,
            "height": info.height,
            "rotation": info.rotation,
            "fps": info.fps,
            "has_audio": info.has_audio,
            "has_speech": _source_has_speech(ctx),
        },
        "transcript": (ctx.checkpoint.get("transcript") or {}).get("text"),
        "video_reencoded": ctx.checkpoint.get("video_reencoded", False),
        "languages": outputs,
        "timings": timings(ctx),
    }
    if verdict != "pass":
        log.warning("job %s: QA verdict %s: %s", ctx.job_id, verdict, "; ".join(reasons))
    if params.require_pass and verdict != "pass":
        # the files stay published and the result is kept: the merchant can see what was wrong
        raise OutputRejected(
            f"The dub's QA verdict is '{verdict}', and the job was asked to pass: "
            + "; ".join(reasons),
            param="require_pass",
            code="qa_not_passed",
            details=[
                {"language": code, "verdict": reports[code]["verdict"],
                 "reasons": reports[code]["reasons"]}
                for code in codes
                if reports[code]["verdict"] != "pass"
            ],
        )  # fmt: skip


def _source_has_speech(ctx: JobContext) -> bool | None:
    """Whether speech was heard in the clip; None if it was not listened to (no audio track,
    or no speech recognition model)."""
    transcript = ctx.checkpoint.get("transcript")
    return None if transcript is None else bool(transcript["segments"])


async def _publish(ctx: JobContext, files: dict[str, Path | str], published: list[str]) -> None:
    """Each file once, even when the stage runs again after a crash."""
    for name, content in files.items():
        if name in published:
            continue
        if isinstance(content, Path):
            await ctx.adopt_artifact(name, content)
        else:
            await ctx.write_artifact(name, content)
        published.append(name)
        await ctx.save()


async def _qa_language(ctx: JobContext, ff: FFmpeg, info: MediaInfo, code: str) -> dict[str, Any]:
    """What the buyer gets in `code` (see assess_final_mix), with what the job knows beside it."""
    params = job_input(ctx)
    voice = ctx.checkpoint["voices"][code]
    script = ctx.checkpoint["scripts"][code]["report"]
    wanted = required_facts(
        " ".join([*params.keywords, params.product_facts]), _input_language(params)
    )
    language = load_languages().get(code)
    known = {
        "script_source": script["source"],
        "script_fallback": script.get("fallback"),
        "source_has_speech": _source_has_speech(ctx),
        "required_facts": facts_in_script(wanted, voice["lines"], code),
        "dropped_lines": voice.get("dropped", []),
        **line_report(voice["lines"]),
        "duration_input_s": round(info.duration_s, 3),
        "loudness_target_lufs": params.loudness_lufs,
        "subtitles": "burned-in and soft" if params.burn_in_subtitles else "soft",
        # each line in the merchant's language, and what it says checked against its source
        "read_back": await read_back(ctx, language, voice["lines"]),
    }
    listening: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext(None)
    timing: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
    if params.asr_model:
        listening = ctx.services.registry.use(params.asr_model, kind="asr")
        timing = inference_span(ctx, "asr")
    async with listening as asr, timing:
        return await asyncio.to_thread(
            assess_final_mix,
            ff,
            ff.path(f"{code}.mp4"),
            ff.path(voice["wav"]),
            voice["lines"],
            language,
            ctx.services.settings.video.qa,
            asr,
            known,
        )


def assess_final_mix(
    ff: FFmpeg,
    output: Path,
    voice_wav: Path | None,
    lines: Sequence[dict[str, Any]],
    language: Language,
    limits: VideoQASettings,
    asr: TranscriptionBackend | None,
    known: dict[str, Any],
) -> dict[str, Any]:
    """The QA report and verdict of one dubbed language, on what the buyer gets: the final MP4's
    audio (voice over the clip's sound) decoded once, heard by a meter (loudness, true peak,
    silences), by Whisper once with word times (line by line, against what was meant to be
    said) and once for its language, and compared with the voice track (`voice_wav`, the
    voice alone on the clip's timeline: how far it stands over the clip's own sound).

    `lines`: the voiced lines (start, end, text as the fitting left it, trimmed_s); `asr`:
    None when no speech recognition model listens; `known`: what the job knows beside the mix
    (script_source, required_facts, dropped_lines...), judged with it. Blocking.
    """
    code = language.code
    probed = ff.probe_json(output)
    kinds = {s.get("codec_type"): s.get("codec_name") for s in probed.get("streams", [])}
    out_duration = float(probed.get("format", {}).get("duration", 0.0))
    wav16 = ff.path(f"qa_{code}.wav")
    heard = listen(ff, output, wav16, out_duration)
    # what was spoken: each line as the fitting ladder left it (shortened), not as written
    script_text = " ".join(clean_for_tts(line["text"]) for line in lines)
    back: dict[str, Any] = {
        "of": "final mix", "reference": script_text, "text": None, "wer": None, "cer": None,
        "words_missed": None, "characters_missed": None,
    }  # fmt: skip
    by_characters = language.script in CER_SCRIPTS
    words: list[list[Any]] = []
    line_checks: list[dict[str, Any]] = []
    heard_language = None
    pcm, _ = read_wav(wav16)
    if asr is not None:
        words = _heard_words(asr, pcm, language)
        by_line = align(lines, words)
        line_checks = [
            check_line(line, line_words, language, limits, by_characters=by_characters)
            for line, line_words in zip(lines, by_line, strict=True)
        ]
        # judged on the words heard while the lines play: between them, the clip's own ducked
        # speech may be heard, which is no error of the voice (it is shown apart)
        voiced = " ".join(check["heard"] for check in line_checks if check["heard"])
        aligned = {id(word) for line_words in by_line for word in line_words}
        back |= {
            "text": voiced,
            "between_lines": "".join(str(w[2]) for w in words if id(w) not in aligned).strip(),
            **error_rates(script_text, voiced, code),
        }
        heard_language = _heard_language(asr, pcm, language)
    wav16.unlink(missing_ok=True)
    over_background = None
    if voice_wav is not None:
        voice16 = ff.path(f"qa_{code}.voice.wav")
        ff.run(
            [*ff.input(voice_wav), "-ac", "1", "-ar", str(ASR_RATE), "-c:a", "pcm_s16le",
             str(voice16)],
            what="resample the voice track",
        )  # fmt: skip
        over_background = voice_over_background_db(pcm, read_wav(voice16)[0], ASR_RATE)
        voice16.unlink(missing_ok=True)
    diff_ms = (out_duration - float(known.get("duration_input_s", out_duration))) * 1000
    longest = max((end - start for start, end in heard.silences), default=0.0)
    report = {
        "language": code,
        **known,
        "back_transcription": back,
        "line_checks": line_checks,
        "heard_language": heard_language,
        "voice_coverage": voice_coverage(words, out_duration) if asr is not None else None,
        "voice_over_background_db": over_background,
        "silences": heard.silences,
        "longest_silence_s": round(longest, 3),
        "duration_output_s": round(out_duration, 3),
        "duration_diff_ms": round(diff_ms, 1),
        "duration_ok": abs(diff_ms) <= limits.max_duration_diff_s * 1000,
        "loudness_lufs": heard.loudness_lufs,
        "true_peak_dbtp": heard.true_peak_dbtp,
        "streams": kinds,
    }
    found = findings(report, limits, by_characters=by_characters)
    return {
        "verdict": worst([f["verdict"] for f in found]),
        "reasons": [f["reason"] for f in found],
        "findings": found,
        **report,
    }


def _heard_words(asr: TranscriptionBackend, pcm: np.ndarray, language: Language) -> list[list[Any]]:
    """[start, end, text] of each word Whisper hears in the final mix (greedy, once: the check
    must not cost more than the dub it checks). A segment without word times counts as one
    word; so do all of them where faster-whisper's word alignment breaks on an empty alignment
    (IndexError in find_alignment, SYSTRAN/faster-whisper#1460): coarser, but nothing unheard."""
    try:
        heard = transcribe_with(asr, pcm, language, words=True, beam_size=1, vad=False)
    except IndexError:
        log.warning("word times failed on the %s mix; by segments", language.code)
        heard = transcribe_with(asr, pcm, language, words=False, beam_size=1, vad=False)
    return [
        word
        for segment in heard["segments"]
        for word in segment["words"] or [[segment["start"], segment["end"], f" {segment['text']}"]]
    ]


def _heard_language(
    asr: TranscriptionBackend, pcm: np.ndarray, language: Language
) -> dict[str, Any] | None:
    """The language Whisper hears in the mix's first 30 s, unprompted (detection only: nothing
    is decoded), beside the dub's; None where the model knows one language or not the dub's."""
    expected = language.whisper_code or language.code
    if len(asr.languages) < 2 or not language.whisper or expected not in asr.languages:
        return None
    heard = asr.stream(pcm, language=None)
    return {
        "code": heard.language,
        "probability": round(heard.language_probability, 3),
        "expected": expected,
    }


def _input_language(params: DubbingInput) -> str:
    """The language the merchant wrote keywords and facts in, for their number words: Chinese if
    any is written in Han characters, else English (digits read the same in both)."""
    text = " ".join([*params.keywords, params.product_facts])
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


qa_stage = timed(_qa_stage)
