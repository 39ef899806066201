"""The last stage of a dubbing job: measure each dubbed language (QA report) and publish its files."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from pipelines.errors import OutputRejected
from pipelines.languages import load_languages
from pipelines.platform.jobs.context import JobContext
from pipelines.video.audio import ASR_RATE, measure_loudness, read_wav
from pipelines.video.ffmpeg import FFmpeg, MediaInfo
from pipelines.video.parent import SOURCE_ARTIFACT
from pipelines.video.qa import CER_SCRIPTS, error_rates, judge, line_report, worst
from pipelines.video.script import clean_for_tts
from pipelines.video.stage_kit import (
    job_ffmpeg,
    job_input,
    job_media,
    timed,
    timings,
    transcribe_pcm,
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
    params = job_input(ctx)
    language = load_languages().get(code)
    voice = ctx.checkpoint["voices"][code]
    output = ff.path(f"{code}.mp4")
    probed = await asyncio.to_thread(ff.probe_json, output)
    kinds = {s.get("codec_type"): s.get("codec_name") for s in probed.get("streams", [])}
    out_duration = float(probed.get("format", {}).get("duration", 0.0))
    loudness = await asyncio.to_thread(measure_loudness, ff, output)
    # what was spoken: each line as the fitting ladder left it (shortened), not as written
    script_text = " ".join(clean_for_tts(line["text"]) for line in voice["lines"])
    # The voice-over alone: in the mix, the clip's own (ducked) speech would be heard too.
    back: dict[str, Any] = {
        "of": "voice track", "reference": script_text, "text": None, "wer": None, "cer": None
    }  # fmt: skip
    if params.asr_model:
        wav16 = ff.path(f"qa_{code}.wav")
        dubbed = ff.path(voice["wav"])
        await asyncio.to_thread(
            ff.run,
            [*ff.input(dubbed), "-ac", "1", "-ar", str(ASR_RATE), "-c:a", "pcm_s16le", str(wav16)],
            what="resample for QA",
        )
        pcm, _ = read_wav(wav16)
        # greedy: the check must not cost more than the dub it checks
        heard = await transcribe_pcm(ctx, pcm, language, words=False, beam_size=1, vad=False)
        back |= {"text": heard["text"], **error_rates(script_text, heard["text"])}
    diff_ms = (out_duration - info.duration_s) * 1000
    limits = ctx.services.settings.video.qa
    script = ctx.checkpoint["scripts"][code]["report"]
    report = {
        "language": code,
        "script_source": script["source"],
        "script_fallback": script.get("fallback"),
        "source_has_speech": _source_has_speech(ctx),
        "back_transcription": back,
        **line_report(voice["lines"]),
        "duration_input_s": round(info.duration_s, 3),
        "duration_output_s": round(out_duration, 3),
        "duration_diff_ms": round(diff_ms, 1),
        "duration_ok": abs(diff_ms) <= limits.max_duration_diff_s * 1000,
        "loudness_lufs": loudness.get("input_i"),
        "loudness_target_lufs": params.loudness_lufs,
        "true_peak_dbtp": loudness.get("input_tp"),
        "streams": kinds,
        "subtitles": "burned-in and soft" if params.burn_in_subtitles else "soft",
    }
    verdict, reasons = judge(report, limits, by_characters=language.script in CER_SCRIPTS)
    return {"verdict": verdict, "reasons": reasons, **report}


qa_stage = timed(_qa_stage)
