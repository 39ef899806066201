"""Pytest plugin: short test clips made with ffmpeg (testsrc picture, espeak-ng narration)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from models.settings import ModelSpec

NARRATION = "This steel bottle keeps water cold all day. It is light and easy to carry."


@dataclass(frozen=True)
class Clip:
    path: Path
    seconds: float
    size: tuple[int, int]  # as displayed
    rotation: int
    speech: bool


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's streams and format of `path`, as JSON."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def make_clip(
    path: Path,
    *,
    seconds: float = 6.0,
    size: tuple[int, int] = (320, 240),
    speech: str | None = None,
    voice: str = "en-us",
    rotate: int = 0,
    fps: int = 10,
) -> Path:
    """An H.264 clip of `seconds`; with `speech`, an AAC track of espeak-ng saying it."""
    work = path.with_suffix(".parts")
    work.mkdir(parents=True, exist_ok=True)
    video = ["-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}"]
    audio: list[str] = []
    if speech is not None:
        narration = work / "narration.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(narration), speech], check=True, timeout=60
        )
        audio = ["-i", str(narration)]
    encoded = work / "encoded.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *video, *audio, "-t", str(seconds),
         *(["-af", "apad", "-c:a", "aac"] if audio else []),
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(encoded)],
        check=True, timeout=120,
    )  # fmt: skip
    # ffmpeg 5 writes the display matrix of a phone clip only when remuxing with the rotate tag
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(encoded), "-c", "copy",
         *(["-metadata:s:v:0", f"rotate={rotate}"] if rotate else []), str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    """landscape_speech (320x240, narrated), portrait_silent (240x320), rotated_phone (stored
    320x240 with a 90-degree display matrix, narrated)."""
    root = tmp_path_factory.mktemp("clips")
    made = {
        "landscape_speech": Clip(
            make_clip(root / "landscape_speech.mp4", speech=NARRATION), 6.0, (320, 240), 0, True
        ),
        "portrait_silent": Clip(
            make_clip(root / "portrait_silent.mp4", size=(240, 320), seconds=5.0),
            5.0,
            (240, 320),
            0,
            False,
        ),
        "rotated_phone": Clip(
            make_clip(root / "rotated_phone.mp4", speech=NARRATION, rotate=90),
            6.0,
            (240, 320),
            90,
            True,
        ),
    }
    return made


@pytest.fixture(scope="session")
def bad_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uploads that must be refused: text, audio only, a playlist pointing at a local file."""
    root = tmp_path_factory.mktemp("bad_media")
    text = root / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    audio_only = root / "voice.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-c:a", "aac", str(audio_only)],
        check=True, timeout=60,
    )  # fmt: skip
    playlist = root / "list.mp4"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/hostname\n")
    truncated = root / "truncated.mp4"
    whole = make_clip(root / "whole.mp4", seconds=2.0)
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    return {"text": text, "audio_only": audio_only, "playlist": playlist, "truncated": truncated}


@pytest.fixture(scope="session")
def video_asr_spec(tiny_whisper_dir: Path) -> ModelSpec:
    """The tiny random Whisper (gibberish text, real timestamps), tuned to answer fast."""
    from tests.fixtures_stt import tiny_whisper_spec

    return tiny_whisper_spec(tiny_whisper_dir)


@pytest.fixture(scope="session")
def video_model_specs(
    tiny_chat_spec: ModelSpec, espeak_spec: ModelSpec, video_asr_spec: ModelSpec
) -> list[ModelSpec]:
    """Chat (tiny random Qwen2), TTS (espeak-ng) and ASR (tiny Whisper) for the dubbing jobs."""
    return [tiny_chat_spec, espeak_spec, video_asr_spec]
