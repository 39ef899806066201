"""Final muxing: one ffmpeg run writes every language's MP4 (copied video, AAC, soft subtitles)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def subtitle_font(language: str) -> str:
    """A font family installed here that covers `language` (Noto Sans CJK for zh/ja/ko...)."""
    try:
        done = subprocess.run(
            ["fc-match", "-f", "%{family[0]}", f"sans-serif:lang={language}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "sans-serif"
    return done.stdout.strip() or "sans-serif"


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
            style = f"FontName={subtitle_font(track.language)},FontSize=16,Outline=1,MarginV=18"
            # the subtitle file is named relative to the job folder (ffmpeg's cwd): no escaping
            name = ff.path(track.subtitles_srt).relative_to(ff.workdir)
            chains.append(f"[v{i}]subtitles=filename={name}:force_style='{style}'[o{i}]")
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
