"""Calibrate the dub QA (pipelines.video.qa_stage.assess_final_mix) on a labelled corpus of good
dubs and broken ones, one defect each, built from real speech and music.

tests/data/dub_qa/ holds short real recordings (LibriSpeech read speech, CC-BY music: see its
README) as the clips' own sound, and the dub voices' lines as the default voices say them
(Piper joe in English, Kokoro in Mandarin and English: --synthesize writes them again). Each
case places two lines of a product script on a 9 s timeline, mixes them over a clip's sound
with the pipeline's own ducking mix, muxes an MP4 and asks the QA what the buyer gets. The
broken cases carry one defect, labelled with the check that must catch it:

  voice_buried    the clip's sound left 6 dB over the voice (no ducking)
  cut             the price line trimmed to fit, its end lost
  fact_not_heard  the price line voiced without its price
  silence         4 s of nothing between the lines (the clip's sound dropped)
  clipping        the mix driven 12 dB into hard clipping
  wrong_language  the other language's voice under this language's script

The text defects (a negated, mistranslated or hallucinated line, an invented spec, English left
in a zh line) are the translation checks' (scripts/calibrate_checks.py), which the QA applies to
each voiced line through pipelines.video.readback.

It prints the confusion matrix (label x verdict), whether each broken case was caught *by its
check*, and per case the values the thresholds rest on, so that they can be re-derived:

    .venv/bin/python -m scripts.calibrate_dub_qa            # every case
    .venv/bin/python -m scripts.calibrate_dub_qa --synthesize   # first say the lines again
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.asr import TranscriptionBackend
from models.registry import ModelRegistry
from pipelines.languages import load_languages
from pipelines.settings import load_settings
from pipelines.video.audio import MixOptions, mix, read_wav, write_wav
from pipelines.video.ffmpeg import FFmpeg
from pipelines.video.qa_stage import assess_final_mix
from pipelines.video.settings import VideoQASettings

CORPUS = Path(__file__).parents[1] / "tests" / "data" / "dub_qa"
VERDICTS = ("pass", "review", "fail")
# the script of each language: two lines, and the price line without its price
SCRIPTS = {
    "en": (
        "This steel bottle keeps drinks cold for twenty-four hours.",
        "Only three dollars twenty, minimum order one hundred bottles.",
        "Minimum order one hundred bottles.",
    ),
    "zh": ("这款不锈钢保温杯保冷二十四小时。", "单价三点五美元，一百件起订。", "一百件起订。"),
}
# voice name -> (model id, voice id, language)
VOICES = {
    "piper_en": ("piper-joe", "en_US-joe-medium", "en"),
    "kokoro_zh": ("kokoro-82m", "zh:jm_kumo", "zh"),
    "kokoro_en": ("kokoro-82m", "en:jm_kumo", "en"),
}
BACKGROUNDS = (
    "speech_en_198-209-0000",
    "music_karissa_hobbs_lets_go_fishin",
    "speech_en_5703-47212-0000",
    "music_kevin_macleod_vibe_ace",
)
DEFECTS = ("voice_buried", "cut", "fact_not_heard", "silence", "clipping", "wrong_language")
DURATION_S = 9.0
FIRST_START_S, PAUSE_S, GAP_S = 0.3, 0.4, 4.0
RATE = 24_000  # the voice track's rate


@dataclass(frozen=True)
class Case:
    """One dub: `label` is "good" or the check that must catch its one defect."""

    label: str
    voice: str
    background: str

    @property
    def name(self) -> str:
        return f"{self.label}/{self.voice}/{self.background}"


def cases(*, lean: bool = False) -> list[Case]:
    """Good dubs of every voice over every background, each defect in every voice (`lean`: only
    Piper's English and Kokoro's Mandarin, the good ones over one speech and one music clip)."""
    voices = ["piper_en", "kokoro_zh"] if lean else list(VOICES)
    good = [
        Case("good", voice, background)
        for voice in voices
        for background in (BACKGROUNDS[:2] if lean else BACKGROUNDS)
    ]
    broken = [
        Case(defect, voice, BACKGROUNDS[(i + j) % len(BACKGROUNDS)])
        for i, defect in enumerate(DEFECTS)
        for j, voice in enumerate(voices)
    ]
    return good + broken


def _decode(ff: FFmpeg, source: Path, name: str, rate: int, channels: int) -> Path:
    out = ff.path(name)
    ff.run(
        ["-i", str(source), "-ac", str(channels), "-ar", str(rate), "-c:a", "pcm_s16le",
         str(out)],
        what="decode",
    )  # fmt: skip
    return out


def _line_audio(ff: FFmpeg, voice: str, number: int) -> np.ndarray:
    wav = _decode(ff, CORPUS / f"voice_{voice}_{number}.opus", f"{voice}_{number}.wav", RATE, 1)
    return read_wav(wav)[0]


def build(case: Case, ff: FFmpeg) -> tuple[Path, Path, list[dict[str, Any]], str]:
    """The case's final MP4, its voice track, its voiced lines and its language."""
    language = VOICES[case.voice][2]
    texts = SCRIPTS[language]
    # wrong language: the other language's voice says this language's script
    heard_voice = (
        ("kokoro_zh" if language == "en" else "piper_en")
        if case.label == "wrong_language"
        else case.voice
    )
    audio = [_line_audio(ff, heard_voice, 0), _line_audio(ff, heard_voice, 1)]
    if case.label == "fact_not_heard":
        audio[1] = _line_audio(ff, heard_voice, 2)
    trimmed = 0.0
    if case.label == "cut":
        kept = int(len(audio[1]) * 0.45)
        trimmed, audio[1] = (len(audio[1]) - kept) / RATE, audio[1][:kept]
    pause = GAP_S if case.label == "silence" else PAUSE_S
    starts = [FIRST_START_S, FIRST_START_S + len(audio[0]) / RATE + pause]
    duration = max(DURATION_S, starts[1] + len(audio[1]) / RATE + 0.5)
    track = np.zeros(round(duration * RATE), np.float32)
    lines = []
    for n, (start, pcm) in enumerate(zip(starts, audio, strict=True)):
        at = round(start * RATE)
        track[at : at + len(pcm)] = pcm
        lines.append({"start": start, "end": start + len(pcm) / RATE, "text": texts[n],
                      "trimmed_s": trimmed if n == 1 else 0.0})  # fmt: skip
    voice_wav = write_wav(ff.path("voice.wav"), track, RATE)
    background = _decode(ff, CORPUS / f"{case.background}.opus", "background.wav", 48_000, 2)
    options = MixOptions()
    if case.label == "voice_buried":
        options = MixOptions(duck_method="fixed", duck_gain_db=6.0)
    elif case.label == "silence":
        options = MixOptions(mode="replace")  # nothing but the voice: the gap is silent
    mixed = ff.path("mixed.wav")
    mix(ff, voice_wav, background, mixed, duration, options)
    if case.label == "clipping":
        pcm, rate = read_wav(mixed)
        write_wav(mixed, np.clip(pcm * 4.0, -1.0, 1.0), rate)
    mp4 = ff.path("dub.mp4")
    ff.run(
        ["-f", "lavfi", "-i", f"color=c=gray:s=64x64:r=5:d={duration:.3f}", *ff.input(mixed),
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-t", f"{duration:.6f}", str(mp4)],
        what="mux",
    )  # fmt: skip
    return mp4, voice_wav, lines, language


def assess(
    case: Case, asr: TranscriptionBackend, limits: VideoQASettings | None = None
) -> dict[str, Any]:
    """The QA report of `case`, as the dubbing job's QA stage makes it."""
    with tempfile.TemporaryDirectory(prefix="dub-qa-") as folder:
        ff = FFmpeg(Path(folder))
        mp4, voice_wav, lines, code = build(case, ff)
        known = {"script_source": "own", "duration_input_s": round(len(read_wav(voice_wav)[0])
                                                                    / RATE, 3)}  # fmt: skip
        return assess_final_mix(
            ff, mp4, voice_wav, lines, load_languages().get(code),
            limits or VideoQASettings(), asr, known,
        )  # fmt: skip


def caught(case: Case, report: dict[str, Any]) -> bool:
    """Whether a broken case got review or fail with its labelled check among the findings."""
    checks = {finding["check"] for finding in report["findings"]}
    return report["verdict"] != "pass" and case.label in checks


def values(report: dict[str, Any]) -> dict[str, Any]:
    """What the thresholds are set on."""
    heard_as = report.get("heard_language") or {}
    back = report["back_transcription"]
    return {
        "voice_db": report.get("voice_over_background_db"),
        "lang": f"{heard_as.get('code')}:{heard_as.get('probability')}",
        "missed": back.get("characters_missed") if report["language"] == "zh"
        else back.get("words_missed"),
        "peak": report.get("true_peak_dbtp"),
        "silence": report.get("longest_silence_s"),
        "coverage": report.get("voice_coverage"),
    }  # fmt: skip


def report(results: Sequence[tuple[Case, dict[str, Any]]]) -> None:
    matrix: Counter[tuple[str, str]] = Counter()
    print(f"{'case':56} {'verdict':7} values / checks")
    for case, qa in results:
        matrix[case.label, qa["verdict"]] += 1
        mark = "" if case.label == "good" else (" CAUGHT" if caught(case, qa) else " MISSED")
        checks = sorted({f["check"] for f in qa["findings"]})
        print(f"{case.name:56} {qa['verdict']:7} {values(qa)} {checks}{mark}")
    labels = ["good", *DEFECTS]
    print(f"\n{'label':16}" + "".join(f"{v:>8}" for v in VERDICTS) + f"{'caught':>8}")
    for label in labels:
        row = [c for c, _ in results if c.label == label]
        hits = sum(caught(c, qa) for c, qa in results if c.label == label)
        print(f"{label:16}" + "".join(f"{matrix[label, v]:>8}" for v in VERDICTS)
              + f"{'-' if label == 'good' else f'{hits}/{len(row)}':>8}")  # fmt: skip


async def synthesize(registry: ModelRegistry) -> None:
    """Say each voice's lines again into tests/data/dub_qa (mono Opus, 32 kb/s)."""
    for name, (model, voice, language) in VOICES.items():
        async with registry.use(model, kind="tts") as tts:
            for number, text in enumerate(SCRIPTS[language]):
                speech = tts.synthesize(text, voice)
                with tempfile.TemporaryDirectory() as folder:
                    wav = write_wav(Path(folder) / "line.wav", speech.to_int16() / 32768.0,
                                    speech.sample_rate)  # fmt: skip
                    ff = FFmpeg(Path(folder))
                    ff.run(["-i", str(wav), "-ac", "1", "-c:a", "libopus", "-b:a", "32k",
                            str(Path(folder) / "line.opus")], what="encode")  # fmt: skip
                    shutil.copy(Path(folder) / "line.opus", CORPUS / f"voice_{name}_{number}.opus")


async def run(config: Path | None, model_dir: Path | None, again: bool, lean: bool) -> None:
    settings = load_settings(config)
    registry = ModelRegistry(settings.models, model_dir or settings.model_dir, settings.registry)
    try:
        if again:
            await synthesize(registry)
        async with registry.use(registry.default("asr").id, kind="asr") as asr:
            results = [(case, assess(case, asr)) for case in cases(lean=lean)]
        report(results)
    finally:
        await registry.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--synthesize", action="store_true", help="say the voices' lines again")
    parser.add_argument("--lean", action="store_true", help="only the CI test's cases")
    args = parser.parse_args(argv)
    asyncio.run(run(args.config, args.model_dir, args.synthesize, args.lean))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
