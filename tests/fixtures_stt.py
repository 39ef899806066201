"""Speech-to-text fixtures: a tiny random Whisper, the real Whisper base, and spoken clips."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from models.spec import ModelSpec
from tests.fixtures_real import models_cache_dir, unavailable

# espeak-ng says it clearly enough for Whisper base to get every word (checked: WER 0).
SENTENCE = "Thank you for your order. Your package will arrive on Monday morning."
SPEECH_CONTAINERS = ("wav", "mp3", "m4a", "ogg", "opus", "webm", "flac", "mp4", "mov")


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _ffmpeg(*args: str) -> None:
    _run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args)


@pytest.fixture(scope="session")
def tiny_whisper_dir() -> Path:
    """A tiny random multilingual Whisper in faster-whisper form (built offline, cached)."""
    from scripts.tiny_whisper import build_tiny_whisper_model

    return build_tiny_whisper_model(models_cache_dir() / "tiny-whisper")


def tiny_whisper_spec(path: Path, model_id: str = "tiny-whisper", **options: object) -> ModelSpec:
    """The tiny model, set up to answer fast: greedy, short, no temperature fallback."""
    return ModelSpec(
        id=model_id,
        kind="asr",
        backend="faster-whisper",
        path=str(path),
        licence="test",
        memory_gb=0.1,
        options={
            "device": "cpu",
            "cpu_threads": 1,
            "beam_size": 1,
            "max_new_tokens": 24,
            "compression_ratio_threshold": None,
            "log_prob_threshold": None,
            **options,
        },
    )


def whisper_base_spec(path: Path) -> ModelSpec:
    return ModelSpec(
        id="whisper-base",
        aliases=["whisper-1"],
        kind="asr",
        backend="faster-whisper",
        path=str(path),
        licence="MIT",
        memory_gb=0.5,
        options={"device": "cpu", "compute_type": "int8", "cpu_threads": 2},
    )


@pytest.fixture(scope="session")
def speech_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SENTENCE spoken by espeak-ng in each of SPEECH_CONTAINERS (mp4/mov with video); a blip."""
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    _run("espeak-ng", "-w", str(wav), SENTENCE)
    clips = {"wav": wav}
    for ext in ("mp3", "m4a", "ogg", "opus", "webm", "flac"):
        clips[ext] = folder / f"speech.{ext}"
        _ffmpeg("-i", str(wav), str(clips[ext]))
    for ext in ("mp4", "mov"):
        clips[ext] = folder / f"video.{ext}"
        _ffmpeg(
            *("-f", "lavfi", "-i", "color=c=blue:s=64x64:r=10", "-i", str(wav)),
            *("-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(clips[ext])),
        )
    clips["blip"] = folder / "blip.wav"  # 10 ms: a single spectrogram frame
    _ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=8000", "-t", "0.01", str(clips["blip"]))
    return clips


@pytest.fixture(scope="session")
def long_speech_clip(speech_clips: dict[str, Path]) -> Path:
    """About 14 s: the sentence three times, with a second of silence around each."""
    out = speech_clips["wav"].with_name("long.wav")
    _ffmpeg(
        *("-i", str(speech_clips["wav"])),
        "-filter_complex",
        "[0:a]adelay=1000,apad=pad_dur=1[a];[a]asplit=3[x][y][z];[x][y][z]concat=n=3:v=0:a=1",
        str(out),
    )
    return out


@pytest.fixture(scope="session")
def bad_uploads(speech_clips: dict[str, Path]) -> dict[str, Path]:
    """Files that are not usable audio, each with the error code the API must give."""
    folder = speech_clips["wav"].parent / "bad"
    folder.mkdir()
    png = folder / "image.png"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(png))
    silent_video = folder / "silent.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "color=c=red:s=32x32:r=10", "-t", "1", "-c:v", "mpeg4"),
        str(silent_video),
    )
    truncated = folder / "truncated.mp4"
    # ffmpeg writes the index (moov) last: half a file has none
    video = speech_clips["mp4"].read_bytes()
    truncated.write_bytes(video[: len(video) // 2])
    text = folder / "notes.txt"
    text.write_text("This is a shopping list, not a recording.\n")
    empty = folder / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"")
    zero = folder / "zero.mp3"
    zero.write_bytes(b"")
    return {
        "invalid_audio:png": png,
        "no_audio_stream:silent_video": silent_video,
        "invalid_audio:truncated_mp4": truncated,
        "invalid_audio:text": text,
        "invalid_audio:zero_bytes": zero,
        "empty_audio:empty_wav": empty,
    }
