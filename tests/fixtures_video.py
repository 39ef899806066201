"""Pytest plugin: short test clips made with ffmpeg (testsrc picture, espeak-ng narration)."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from models.spec import ModelSpec

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
    """Uploads that must be refused, each named by what is wrong with it.

    text, audio_only, playlist (HLS naming a local file), truncated (an MP4 without its
    index), zero_bytes, random_bytes, png_as_mp4 (a PNG header claiming 65535x65535),
    huge_frame (real H.264 at 8192x4320, a few kB), zero_seconds (an MP4 without a sample),
    subtitles_only (Matroska with one SubRip track), broken_mjpeg (AVI whose frames are noise),
    concat_local (an ffconcat list naming /etc/passwd).
    """
    root = tmp_path_factory.mktemp("bad_media")
    text = root / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    audio_only = root / "voice.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", audio_only)
    playlist = root / "list.mp4"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n/etc/hostname\n")
    truncated = root / "truncated.mp4"
    whole = make_clip(root / "whole.mp4", seconds=2.0)
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    made = {"text": text, "audio_only": audio_only, "playlist": playlist, "truncated": truncated}

    made["zero_bytes"] = root / "empty.mp4"
    made["zero_bytes"].write_bytes(b"")
    made["random_bytes"] = root / "noise.mp4"
    made["random_bytes"].write_bytes(random.Random(7).randbytes(64 * 1024))
    made["png_as_mp4"] = root / "poster.mp4"
    made["png_as_mp4"].write_bytes(_png_header(65535, 65535))
    made["huge_frame"] = root / "huge.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:s=8192x4320:r=1", "-frames:v", "1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            made["huge_frame"])  # fmt: skip
    made["zero_seconds"] = root / "nothing.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:r=10", "-frames:v", "0", "-c:v", "libx264",
            made["zero_seconds"])  # fmt: skip
    subtitles = root / "cues.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nhello\n")
    made["subtitles_only"] = root / "subtitles.mkv"
    _ffmpeg("-i", subtitles, "-c:s", "srt", made["subtitles_only"])
    made["broken_mjpeg"] = _noise_frames(root / "mjpeg.avi")
    made["concat_local"] = root / "concat.mp4"
    made["concat_local"].write_text("ffconcat version 1.0\nfile '/etc/passwd'\nfile 'whole.mp4'\n")
    return made


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-nostdin", *map(str, args)], check=True, timeout=120
    )


def _png_header(width: int, height: int) -> bytes:
    """A well-formed PNG (signature, IHDR, a little IDAT, IEND) that claims `width`x`height`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _noise_frames(path: Path) -> Path:
    """An MJPEG AVI whose container is intact but whose every frame is replaced by noise."""
    clean = path.with_name("clean.avi")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:r=10", "-t", "2", "-c:v", "mjpeg", clean)
    data = bytearray(clean.read_bytes())
    noise = random.Random(3)
    at = data.find(b"00dc")  # a frame chunk: id, little-endian size, the JPEG
    while at != -1:
        size = struct.unpack("<I", data[at + 4 : at + 8])[0]
        if 0 < size <= len(data) - at - 8:
            data[at + 8 : at + 8 + size] = noise.randbytes(size)
        at = data.find(b"00dc", at + 8)
    path.write_bytes(bytes(data))
    return path


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
