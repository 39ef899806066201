"""Burned-in subtitles render every script shaped: joined Arabic, stacked Thai marks, right order.

No OCR: the line burned by the dub's mux is compared, as a picture, with the same text drawn by
Pillow through raqm (HarfBuzz + FriBiDi) in the same font, and with the same text drawn wrong:
unshaped (letters apart, marks where they fall) and with its words in the wrong order. The burned
line must look like the right drawing and clearly unlike the wrong ones.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from pipelines.video.audio import MIX_RATE, write_wav
from pipelines.video.ffmpeg import FFmpeg, probe
from pipelines.video.mux import DubTrack, mux, subtitle_font
from pipelines.video.settings import VideoSettings

SCREENSHOT = Path(__file__).parents[2] / "artifacts" / "screenshots" / "burned-subtitles.png"

LINES = {  # a product line per script; ar and th have two words or more to get the order wrong
    "ar": "زجاجة ماء باردة",
    "th": "น้ำดื่มเย็น ที่นี่",
    "he": "בקבוק מים קרים",
    "fa": "بطری آب سرد",
    "hi": "मिट्टी की बोतल",
    "bn": "ঠান্ডা জলের বোতল",
}
SIZE = (960, 720)  # 4:3 like the 384x288 subtitle space, so letters are not stretched
BACKGROUND = 128  # mid grey: the white letter fill stands out from it and from the black outline


def _ink(picture: np.ndarray) -> np.ndarray:
    """The bounding box of the pixels that are mostly ink (picture scaled to 0..1)."""
    rows, cols = np.nonzero(picture > 0.5)
    return picture[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _drawn(text: str, font_file: str, *, shaped: bool = True) -> np.ndarray:
    layout = ImageFont.Layout.RAQM if shaped else ImageFont.Layout.BASIC
    font = ImageFont.truetype(font_file, 96, layout_engine=layout)
    canvas = Image.new("L", (96 * len(text), 300))
    ImageDraw.Draw(canvas).text((48, 48), text, font=font, fill=255)
    return _ink(np.asarray(canvas, dtype=np.float32) / 255)


def _likeness(burned: np.ndarray, drawn: np.ndarray) -> float:
    """Correlation of two ink pictures, the drawn one resized onto the burned one's box."""
    height, width = burned.shape
    picture = Image.fromarray((drawn * 255).astype(np.uint8)).resize((width, height))
    resized = np.asarray(picture, dtype=np.float32) / 255
    return float(np.corrcoef(burned.ravel(), resized.ravel())[0, 1])


def _frame(video: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "0.5", "-i", str(video), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(SIZE[1], SIZE[0])


def test_burned_in_lines_are_shaped_and_in_order(tmp_path: Path) -> None:
    assert features.check("raqm"), "Pillow needs raqm (and the system's libfribidi) to draw"
    work = tmp_path / "job"
    work.mkdir()
    upload = work / "input.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
         f"color=c=0x808080:s={SIZE[0]}x{SIZE[1]}:r=5:d=1", "-c:v", "libx264", "-pix_fmt",
         "yuv420p", str(upload)],
        check=True, timeout=60,
    )  # fmt: skip
    ff = FFmpeg(work, timeout_s=120)
    info = probe(ff, upload, VideoSettings())
    silence = np.zeros(int(info.duration_s * MIX_RATE), dtype=np.float32)
    tracks = []
    for lang, line in LINES.items():
        audio = write_wav(ff.path(f"{lang}.wav"), silence, MIX_RATE)
        srt = ff.path(f"{lang}.srt")
        srt.write_text(f"1\n00:00:00,000 --> 00:00:01,000\n{line}\n", encoding="utf-8")
        tracks.append(DubTrack(lang, audio, srt, ff.path(f"{lang}.mp4")))
    assert mux(ff, upload, info, tracks, burn_in=True) is True

    strips = []
    for track in tracks:
        frame = _frame(track.output_mp4)
        fill = np.clip((frame.astype(np.float32) - BACKGROUND) / (235 - BACKGROUND), 0, 1)
        burned = _ink(fill)
        family = subtitle_font(track.language)
        font_file = subprocess.run(
            ["fc-match", "-f", "%{file}", family], capture_output=True, text=True, check=True
        ).stdout
        assert "Noto" in family and Path(font_file).is_file(), family  # the script's own font
        line = LINES[track.language]
        right = _likeness(burned, _drawn(line, font_file))
        # no shaping: Arabic letters apart and left to right, Thai and Hindi marks misplaced
        unshaped = _likeness(burned, _drawn(line, font_file, shaped=False))
        assert right > 0.7, (track.language, right)
        assert right > unshaped + 0.15, (track.language, right, unshaped)
        if track.language in ("ar", "th"):
            # the words drawn right but laid out in the wrong direction
            swapped = _likeness(burned, _drawn(" ".join(reversed(line.split())), font_file))
            assert right > swapped + 0.3, (track.language, right, swapped)
        if track.language == "ar":
            # letters in the right places, each in its own isolated form
            apart = _likeness(burned, _drawn(line[::-1], font_file, shaped=False))
            assert right > apart + 0.3, (right, apart)
        rows = np.nonzero(fill.max(axis=1) > 0.5)[0]
        strips.append(frame[rows.min() - 12 : rows.max() + 13, SIZE[0] // 4 : -SIZE[0] // 4])

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(strips)).save(SCREENSHOT)
