"""Final muxing: one ffmpeg run writes every language's MP4 (copied video, AAC, soft subtitles)."""

from __future__ import annotations

import datetime
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import srt

from pipelines.languages import load_languages
from pipelines.video.ffmpeg import FFmpeg, MediaInfo

# ISO 639-2 codes for the MP4 language tags of the usual target languages.
ISO639_2 = {
    "ar": "ara", "de": "deu", "en": "eng", "es": "spa", "fa": "fas", "fr": "fra", "he": "heb",
    "hi": "hin", "id": "ind", "it": "ita", "ja": "jpn", "ko": "kor", "ms": "msa", "nl": "nld",
    "pl": "pol", "pt": "por", "ru": "rus", "th": "tha", "tr": "tur", "uk": "ukr", "ur": "urd",
    "vi": "vie", "zh": "zho",
}  # fmt: skip


@dataclass(frozen=True)
class DubTrack:
    """One language's output: its mixed audio, its subtitles and where the MP4 goes."""

    language: str
    audio_wav: Path
    subtitles_srt: Path
    output_mp4: Path


# A Noto family per ISO 15924 script (fonts-noto-core, fonts-noto-cjk): fontconfig's own pick for
# `sans-serif:lang=ar` is DejaVu Sans, whose Arabic is a stopgap, and "zh" is no fontconfig language.
SCRIPT_FONTS = {
    "Arab": "Noto Sans Arabic", "Hebr": "Noto Sans Hebrew", "Thai": "Noto Sans Thai",
    "Deva": "Noto Sans Devanagari", "Beng": "Noto Sans Bengali", "Khmr": "Noto Sans Khmer",
    "Mymr": "Noto Sans Myanmar", "Hans": "Noto Sans CJK SC", "Hant": "Noto Sans CJK TC",
    "Jpan": "Noto Sans CJK JP", "Kore": "Noto Sans CJK KR",
}  # fmt: skip
# libass sizes a font by its Windows ascent + descent (GDI's rule); these fonts keep tall ones
# for stacked marks, so at one size their letters come out smaller than Noto Sans's (1.36 em).
# Each is scaled by its height over 1.36 (OS/2 usWinAscent + usWinDescent per em).
FONT_SCALE = {
    "Noto Sans Arabic": 2.11 / 1.36,
    "Noto Sans Myanmar": 2.18 / 1.36,
    "Noto Sans Thai": 1.51 / 1.36,
}
FONT_SIZE = 16  # in the 288-line subtitle space: 1/18 of the picture's height

# libass style of burned-in subtitles, in the 384x288 script space ffmpeg gives SubRip; Encoding
# -1 makes libass take each line's base direction from its text (FriBiDi), so RTL lines start
# on the right.
ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,{font},{size:.1f},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,\
0,2,10,10,18,-1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def subtitle_font(language: str) -> str:
    """The installed font family burned-in subtitles of `language` are drawn in."""
    found = load_languages().find(language)
    preferred = SCRIPT_FONTS.get(found.script, "Noto Sans") if found else "Noto Sans"
    try:  # the preferred family if installed, else fontconfig's pick for the language
        done = subprocess.run(
            ["fc-match", "-f", "%{family[0]}", f"{preferred},sans-serif:lang={language}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "sans-serif"
    return done.stdout.strip() or "sans-serif"


def _ass_time(t: datetime.timedelta) -> str:
    centis = round(t.total_seconds() * 100)
    return (
        f"{centis // 360000}:{centis // 6000 % 60:02d}:{centis // 100 % 60:02d}.{centis % 100:02d}"
    )


def write_ass(subtitles_srt: Path, language: str, ass: Path) -> Path:
    """The SubRip cues as an ASS script styled for burning in `language`.

    ffmpeg's `subtitles` filter runs libass with simple shaping (FriBiDi only): Arabic joins, but
    Thai, Indic, Khmer and Myanmar marks are dropped or misplaced. Its `ass` filter can ask for
    HarfBuzz's complex shaping, and reads ASS, so the style goes into the file.
    """
    cues = srt.parse(subtitles_srt.read_text(encoding="utf-8"))
    events = []
    for cue in cues:
        # a brace would open an ASS override block; libass prints \{ and \} as the braces
        text = re.sub(r"([{}])", r"\\\1", cue.content.strip()).replace("\n", "\\N")
        events.append(
            f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Default,,0,0,0,,{text}\n"
        )
    font = subtitle_font(language)
    header = ASS_HEADER.format(font=font, size=FONT_SIZE * FONT_SCALE.get(font, 1.0))
    ass.write_text(header + "".join(events), encoding="utf-8")
    return ass


def mux(ff: FFmpeg, upload: Path, info: MediaInfo, tracks: list[DubTrack], burn_in: bool) -> bool:
    """Write every track's MP4 from one read of the upload; returns whether video was re-encoded.

    The video stream is copied (rotation and resolution untouched) unless subtitles are burned
    in or the upload is not H.264; then it is decoded once, split, and encoded per language.
    """
    args = ff.input(upload, upload=True)
    for track in tracks:
        args += [*ff.input(track.audio_wav), *ff.input(track.subtitles_srt)]
    reencode = burn_in or info.video_codec != "h264"
    if burn_in:
        labels = "".join(f"[v{i}]" for i in range(len(tracks)))
        chains = [f"[0:v:0]split={len(tracks)}{labels}" if len(tracks) > 1 else "[0:v:0]null[v0]"]
        for i, track in enumerate(tracks):
            ass = write_ass(track.subtitles_srt, track.language, ff.path(f"{track.language}.ass"))
            # the file is named relative to the job folder (ffmpeg's cwd): no escaping
            name = ass.relative_to(ff.workdir)
            chains.append(f"[v{i}]ass=filename={name}:shaping=complex[o{i}]")
        args += ["-filter_complex", ";".join(chains)]
    for i, track in enumerate(tracks):
        video = f"[o{i}]" if burn_in else "0:v:0"
        lang = ISO639_2.get(track.language.split("-")[0], "und")
        args += ["-map", video, "-map", f"{1 + 2 * i}:a:0", "-map", f"{2 + 2 * i}:s:0"]
        if reencode:
            args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
        else:
            args += ["-c:v", "copy"]
        args += [
            "-c:a", "aac", "-b:a", "128k", "-c:s", "mov_text",
            "-metadata:s:a:0", f"language={lang}", "-metadata:s:s:0", f"language={lang}",
            "-t", f"{info.duration_s:.6f}", "-movflags", "+faststart",
            str(ff.path(track.output_mp4)),
        ]  # fmt: skip
    ff.run(args, what="mux")
    return reencode
