"""Benchmark: transcription and speech over localshang's HTTP API vs the engines called directly.

    python -m scripts.bench_audio                                  # Whisper base, espeak-ng, Piper
    python -m scripts.bench_audio --whisper-dir DIR --repeats 5 --skip-piper

Whisper base (int8, CPU) transcribes a clip espeak-ng speaks; espeak-ng (and Piper, when it is
installed and its voice can be fetched) speak a paragraph of product copy as WAV. Prints the
real-time factor (processing s / audio s, best of --repeats after a warm-up) of each path and,
on each engine row, the ratio engine RTF / localshang RTF (target: >= 0.95; below 1 means
localshang is slower).

Like for like: faster-whisper is timed on the file (it decodes it itself, as localshang decodes
the upload) and on the samples localshang decodes: the two decoders round differently (int16
vs float32), which can change a beam search's path, so only the second is identical work.
localshang answers speech as 24 kHz WAV encoded by ffmpeg, so each TTS engine is timed with its
own 22.05 kHz WAV and piped through ffmpeg into the same format.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from models.asr.audio import SAMPLE_RATE, decode_audio
from models.asr.whisper import FALLBACK_TEMPERATURES
from models.fetch import FetchError, fetch
from models.spec import ModelSpec
from models.tts.base import split_sentences
from models.tts.espeak import parse_voice_listing
from pipelines.settings import Settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.live import live_server

PRODUCT_COPY = (
    "Meet the Trailhead steel water bottle. Double-walled vacuum insulation keeps your drinks "
    "ice cold for twenty-four hours and hot for twelve. The powder-coated finish resists "
    "scratches, and the bottle never sweats in your bag. A leak-proof lid with a sturdy carry "
    "loop clips onto any backpack, while the wide mouth takes ice cubes and is easy to clean. "
    "Every bottle is free of BPA and comes with a lifetime warranty."
)
WARMUP_TEXT = split_sentences(PRODUCT_COPY)[0]  # loads models and fills caches, in a second
CPU_THREADS = min(4, os.cpu_count() or 1)  # localshang's own default for faster-whisper
ESPEAK_VOICE = "en-us"
ESPEAK_WPM = 175  # what localshang passes at speed 1.0
ESPEAK_RUN_FACTOR = 5  # it takes milliseconds: noise on a shared box weighs most there
PIPER_VOICE = "en_US-joe-medium"
# What a person would write to get localshang's speech format: 24 kHz mono 16-bit WAV.
FFMPEG_TO_WAV = ("-ar", "24000", "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", "-y")

Input = TypeVar("Input")


@dataclass
class Run:
    task: str
    label: str
    audio_s: float
    times: list[float]
    localshang: bool = False

    @property
    def rtf(self) -> float:
        return min(self.times) / self.audio_s


def measure(
    paths: Mapping[str, Callable[[Input], object]], warmup: Input, work: Input, repeats: int
) -> dict[str, list[float]]:
    """A warm-up of every path on `warmup`, then rounds on `work` in alternating order."""
    for path in paths.values():
        path(warmup)
    times: dict[str, list[float]] = {label: [] for label in paths}
    for i in range(repeats):
        for label in list(paths)[:: 1 if i % 2 == 0 else -1]:  # drift hits every path alike
            start = time.perf_counter()
            paths[label](work)
            times[label].append(time.perf_counter() - start)
    return times


def audio_seconds(data: bytes) -> float:
    return len(decode_audio(io.BytesIO(data))) / SAMPLE_RATE


def speak(text: str, wav: Path) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", ESPEAK_VOICE, "-w", str(wav), "--stdin"],
        input=text.encode(),
        check=True,
    )
    return wav


# --- speech to text ---------------------------------------------------------------------------
def bench_stt(
    client: httpx.Client, whisper_dir: Path, clips: tuple[Path, Path], repeats: int
) -> list[Run]:
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(whisper_dir),
        device="cpu",
        compute_type="int8",
        cpu_threads=CPU_THREADS,
        num_workers=1,
        local_files_only=True,
    )
    # What localshang's WhisperASR passes for a request with language=en and temperature 0.
    options: dict[str, Any] = {
        "language": "en",
        "task": "transcribe",
        "beam_size": 5,
        "temperature": FALLBACK_TEMPERATURES,
        "word_timestamps": False,
        "vad_filter": False,
    }
    uploads = {clip: clip.read_bytes() for clip in clips}
    samples = {clip: decode_audio(io.BytesIO(data)) for clip, data in uploads.items()}
    texts: dict[str, str] = {}

    def transcribe(label: str, audio: str | np.ndarray) -> None:
        segments, _ = model.transcribe(audio, **options)
        texts[label] = "".join(s.text for s in segments).strip()  # runs the decoding

    def over_http(clip: Path) -> None:
        response = client.post(
            "/v1/audio/transcriptions",
            files={"file": (clip.name, uploads[clip], "audio/wav")},
            data={"model": "whisper-base", "language": "en", "response_format": "json"},
        )
        response.raise_for_status()
        texts["localshang"] = response.json()["text"]

    paths: Mapping[str, Callable[[Path], object]] = {
        "file": lambda clip: transcribe("file", str(clip)),
        "samples": lambda clip: transcribe("samples", samples[clip]),
        "localshang": over_http,
    }
    times = measure(paths, clips[0], clips[1], repeats)
    for label in ("file", "samples"):
        verdict = "same as" if texts[label] == texts["localshang"] else "differs from"
        print(f"faster-whisper on the {label}: transcript {verdict} localshang's")
    audio_s = len(samples[clips[1]]) / SAMPLE_RATE
    task = "stt whisper-base"
    return [
        Run(task, "faster-whisper, file", audio_s, times["file"]),
        Run(task, "faster-whisper, same samples", audio_s, times["samples"]),
        Run(task, "POST /v1/audio/transcriptions", audio_s, times["localshang"], True),
    ]


# --- text to speech ---------------------------------------------------------------------------
def speak_over_http(client: httpx.Client, model: str, voice: str, text: str) -> bytes:
    body = {"model": model, "input": text, "voice": voice, "response_format": "wav"}
    response = client.post("/v1/audio/speech", json=body)
    response.raise_for_status()
    return response.content  # the whole body: audio is streamed while it is made


def bench_espeak(client: httpx.Client, workdir: Path, repeats: int) -> list[Run]:
    binary = shutil.which("espeak-ng") or "espeak-ng"
    listing = subprocess.run([binary, "--voices"], capture_output=True, check=True, text=True)
    voice = next(v for v in parse_voice_listing(listing.stdout) if v.voice.id == ESPEAK_VOICE)
    # localshang's arguments; it runs them once per sentence, here the paragraph goes in whole.
    cmd = [binary, "-v", voice.file, "-s", str(ESPEAK_WPM), "-b", "1", "--stdin", "--stdout"]
    ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", *FFMPEG_TO_WAV]
    encoded = workdir / "espeak.wav"
    outputs: dict[str, bytes] = {}

    def engine(text: str) -> None:
        result = subprocess.run(cmd, input=text.encode(), capture_output=True, check=True)
        outputs["engine"] = result.stdout

    def engine_to_wav(text: str) -> None:
        with subprocess.Popen([*ffmpeg, str(encoded)], stdin=subprocess.PIPE) as encoder:
            subprocess.run(cmd, input=text.encode(), stdout=encoder.stdin, check=True)
        if encoder.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({encoder.returncode})")

    def over_http(text: str) -> None:
        outputs["localshang"] = speak_over_http(client, "espeak", ESPEAK_VOICE, text)

    paths = {"engine": engine, "engine | ffmpeg": engine_to_wav, "localshang": over_http}
    times = measure(paths, WARMUP_TEXT, PRODUCT_COPY, repeats * ESPEAK_RUN_FACTOR)
    return tts_runs("tts espeak-ng", "espeak-ng", times, outputs, encoded)


def bench_piper(client: httpx.Client, voice_dir: Path, workdir: Path, repeats: int) -> list[Run]:
    from piper import PiperVoice

    voice = PiperVoice.load(voice_dir / f"{PIPER_VOICE}.onnx", download_dir=workdir)
    ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le"]
    ffmpeg += ["-ar", str(voice.config.sample_rate), "-ac", "1", "-i", "pipe:0", *FFMPEG_TO_WAV]
    encoded = workdir / "piper.wav"
    outputs: dict[str, bytes] = {}

    def engine(text: str) -> None:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            voice.synthesize_wav(text, wav)
        outputs["engine"] = buffer.getvalue()

    def engine_to_wav(text: str) -> None:
        with subprocess.Popen([*ffmpeg, str(encoded)], stdin=subprocess.PIPE) as encoder:
            assert encoder.stdin is not None
            for chunk in voice.synthesize(text):  # a sentence at a time, as localshang streams
                encoder.stdin.write(chunk.audio_int16_bytes)
                encoder.stdin.flush()
        if encoder.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({encoder.returncode})")

    def over_http(text: str) -> None:
        outputs["localshang"] = speak_over_http(client, "piper", PIPER_VOICE, text)

    paths = {"engine": engine, "engine | ffmpeg": engine_to_wav, "localshang": over_http}
    times = measure(paths, WARMUP_TEXT, PRODUCT_COPY, repeats)
    # Piper's noise makes each run's length differ a little: each path is divided by its own.
    return tts_runs("tts piper joe", "piper", times, outputs, encoded)


def tts_runs(
    task: str, engine: str, times: dict[str, list[float]], outputs: dict[str, bytes], encoded: Path
) -> list[Run]:
    return [
        Run(task, f"{engine}, own WAV", audio_seconds(outputs["engine"]), times["engine"]),
        Run(
            task,
            f"{engine} | ffmpeg, 24 kHz WAV",
            audio_seconds(encoded.read_bytes()),
            times["engine | ffmpeg"],
        ),
        Run(
            task,
            "POST /v1/audio/speech wav",
            audio_seconds(outputs["localshang"]),
            times["localshang"],
            True,
        ),
    ]


# --- report -----------------------------------------------------------------------------------
def report(runs: list[Run]) -> None:
    print(
        f"{'task':17} {'path':30} {'audio s':>7} {'best s':>7} {'median s':>8} {'RTF':>7} "
        f"{'engine/ls':>9}"
    )
    for run in runs:
        ours = next(r for r in runs if r.task == run.task and r.localshang)
        ratio = "" if run.localshang else f"{run.rtf / ours.rtf:.3f}"
        print(
            f"{run.task:17} {run.label:30} {run.audio_s:7.2f} {min(run.times):7.3f} "
            f"{statistics.median(run.times):8.3f} {run.rtf:7.4f} {ratio:>9}"
        )


def piper_voice_dir(skip: bool) -> Path | None:
    if skip:
        return None
    try:
        import piper  # noqa: F401
    except ImportError:
        print("piper-tts is not installed: Piper skipped")
        return None
    try:
        return fetch("piper-joe", models_cache_dir() / "piper-joe")
    except FetchError as exc:
        print(f"the Piper voice cannot be fetched here, Piper skipped: {exc}")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--whisper-dir",
        type=Path,
        help="faster-whisper base model folder (default: fetched into the test cache)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per path (espeak-ng: 5 times as many)"
    )
    parser.add_argument("--skip-piper", action="store_true")
    args = parser.parse_args()
    whisper_dir = args.whisper_dir or fetch("whisper-base", models_cache_dir() / "whisper-base")
    piper_dir = piper_voice_dir(args.skip_piper)

    specs = [
        ModelSpec(
            id="whisper-base",
            kind="asr",
            backend="faster-whisper",
            path=str(whisper_dir),
            options={"device": "cpu", "compute_type": "int8", "cpu_threads": CPU_THREADS},
        ),
        ModelSpec(id="espeak", kind="tts", backend="espeak-ng"),
    ]
    if piper_dir is not None:
        # threads 0: ONNX Runtime's own default, which PiperVoice.load keeps too
        specs.append(
            ModelSpec(
                id="piper", kind="tts", backend="piper", path=str(piper_dir), options={"threads": 0}
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clips = (
            speak(WARMUP_TEXT, workdir / "warmup.wav"),
            speak(PRODUCT_COPY, workdir / "clip.wav"),
        )
        app = create_app(Settings(model_dir=workdir, data_dir=workdir / "data", models=specs))
        with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=600) as client:
            runs = bench_stt(client, whisper_dir, clips, args.repeats)
            runs += bench_espeak(client, workdir, args.repeats)
            if piper_dir is not None:
                runs += bench_piper(client, piper_dir, workdir, args.repeats)
    print(
        f"RTF: best of {args.repeats} runs (espeak-ng {args.repeats * ESPEAK_RUN_FACTOR}) / audio s"
        f" · faster-whisper on {CPU_THREADS} threads"
    )
    report(runs)


if __name__ == "__main__":
    main()
