"""ffmpeg/ffprobe behind argument lists: confined to one work folder, file-only inputs, a timeout."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from pipelines.errors import InvalidInput, PipelineError
from pipelines.video.settings import VideoSettings

log = logging.getLogger(__name__)

# Containers a phone or an editor writes. Playlists (hls), concat lists and image sequences are
# refused: their demuxers open further files named inside the upload.
UPLOAD_DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv"
# Inputs we wrote ourselves (WAV, SRT, the upload once it passed the probe).
INPUT_OPTIONS = ("-protocol_whitelist", "file")


class MediaToolError(PipelineError):
    """ffmpeg failed or timed out on a file that had already passed the probe."""

    status = 500


@dataclass(frozen=True)
class MediaInfo:
    """What the probe learned about an upload. Width/height are as stored, before rotation."""

    duration_s: float
    width: int
    height: int
    rotation: int
    fps: float
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None
    container: str

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as the viewer sees them (a portrait phone clip is often 90 degrees)."""
        turned = self.rotation % 180 == 90
        return (self.height, self.width) if turned else (self.width, self.height)


class FFmpeg:
    """Runs ffmpeg/ffprobe on files inside `workdir` only, each call bounded by `timeout_s`."""

    def __init__(self, workdir: Path, timeout_s: float = 300.0) -> None:
        self.workdir = workdir.resolve()
        self.timeout_s = timeout_s

    def path(self, name: str | Path) -> Path:
        """`name` inside the work folder; refuses anything that resolves outside it."""
        path = (self.workdir / name).resolve()
        if not path.is_relative_to(self.workdir):
            raise MediaToolError(f"refusing to touch {path}: outside the job folder")
        return path

    def input(self, path: Path, *, upload: bool = False) -> list[str]:
        """The options and `-i` for one input file of the job folder."""
        extra = ["-format_whitelist", UPLOAD_DEMUXERS] if upload else []
        return [*INPUT_OPTIONS, *extra, "-i", str(self.path(path))]

    def run(self, args: list[str], *, what: str, check: bool = True) -> CompletedProcess[str]:
        """Run `ffmpeg args...` (an argument list, no shell); raises on failure when `check`."""
        return self._exec(["ffmpeg", "-nostdin", "-hide_banner", "-y", *args], what, check=check)

    def probe_json(self, path: Path, *, upload: bool = False) -> dict[str, Any]:
        inside = self.path(path)
        command = ["ffprobe", "-v", "error", *INPUT_OPTIONS]
        if upload:
            command += ["-format_whitelist", UPLOAD_DEMUXERS]
        command += ["-print_format", "json", "-show_format", "-show_streams", str(inside)]
        done = self._exec(command, "probe", check=False)
        if done.returncode != 0:
            reason = _last_line(done.stderr).replace(f"{inside}: ", "")  # no server paths
            raise InvalidInput(
                f"The uploaded file is not a video we can read ({reason}).",
                param="file",
                code="invalid_video",
            )
        data: dict[str, Any] = json.loads(done.stdout or "{}")
        return data

    def _exec(self, command: list[str], what: str, *, check: bool = True) -> CompletedProcess[str]:
        started = time.monotonic()
        child = subprocess.Popen(
            [*_rlimits(), *command],
            cwd=self.workdir,
            env=_CHILD_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with _LIVE_LOCK:
            _LIVE.setdefault(self.workdir, set()).add(child)
        try:
            stdout, stderr = child.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired as exc:
            child.kill()
            child.communicate()
            raise MediaToolError(f"{what}: ffmpeg took longer than {self.timeout_s:.0f} s") from exc
        finally:
            with _LIVE_LOCK:
                live = _LIVE.get(self.workdir, set())
                live.discard(child)
                if not live:
                    _LIVE.pop(self.workdir, None)
        done = CompletedProcess(child.args, child.returncode, stdout, stderr)
        log.debug("%s took %.2f s: %s", what, time.monotonic() - started, command)
        if check and done.returncode != 0:
            raise MediaToolError(f"{what} failed: {_last_line(done.stderr)}")
        return done


# The children running in each job folder: a cancelled job's are killed (kill_children), since
# cancelling the stage that waits on one does not stop the thread that runs it.
_LIVE: dict[Path, set[subprocess.Popen[str]]] = {}
_LIVE_LOCK = threading.Lock()


def kill_children(workdir: Path) -> int:
    """Kill the ffmpeg/ffprobe processes working in `workdir`; how many there were."""
    with _LIVE_LOCK:
        children = list(_LIVE.get(workdir.resolve(), ()))
    for child in children:
        child.kill()
    return len(children)


# Caps on every ffmpeg/ffprobe child (util-linux prlimit, an argument list like the rest):
# address space and size of any file it writes, so a crafted upload cannot eat the machine.
MAX_MEMORY_BYTES = 8 << 30
MAX_FILE_BYTES = 8 << 30
# A clean environment: nothing the server process inherited (e.g. an LD_LIBRARY_PATH that some
# import extended with the working directory) reaches the child.
_CHILD_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/tmp"),
    "LANG": "C.UTF-8",
}


def _rlimits() -> list[str]:
    return ["prlimit", f"--as={MAX_MEMORY_BYTES}", f"--fsize={MAX_FILE_BYTES}", "--"]


def _last_line(stderr: str) -> str:
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and line.strip() != "Conversion failed!"
    ]
    return lines[-1] if lines else "no output"


def probe(ffmpeg: FFmpeg, path: Path, limits: VideoSettings) -> MediaInfo:
    """Probe an upload and check it against `limits`; raises InvalidInput with a clear message."""
    data = ffmpeg.probe_json(path, upload=True)
    streams = data.get("streams", [])
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not s.get("disposition", {}).get("attached_pic")
            and s.get("codec_name")
        ),
        None,
    )
    if video is None:
        raise InvalidInput(
            "The uploaded file has no video stream.", param="file", code="no_video_stream"
        )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fmt = data.get("format", {})
    duration = _number(video.get("duration")) or _number(fmt.get("duration"))
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    if not duration or not width or not height:
        raise InvalidInput(
            "The uploaded video has no readable duration or frame size.",
            param="file",
            code="invalid_video",
        )
    info = MediaInfo(
        duration_s=duration,
        width=width,
        height=height,
        rotation=_rotation(video),
        fps=fps,
        video_codec=str(video.get("codec_name")),
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        container=str(fmt.get("format_name", "")),
    )
    _check_limits(info, limits)
    _check_decodable(ffmpeg, path)
    return info


def _check_limits(info: MediaInfo, limits: VideoSettings) -> None:
    problems = []
    if info.duration_s > limits.max_duration_s:
        problems.append(
            f"it lasts {info.duration_s:.1f} s, the limit is {limits.max_duration_s:g} s"
        )
    if info.duration_s < limits.min_duration_s:
        problems.append(
            f"it lasts {info.duration_s:.2f} s, the minimum is {limits.min_duration_s:g} s"
        )
    if info.width * info.height > limits.max_pixels:
        problems.append(f"{info.width}x{info.height} is more pixels than {limits.max_pixels}")
    if info.fps > limits.max_fps:
        problems.append(f"{info.fps:g} frames per second is over {limits.max_fps:g}")
    if problems:
        raise InvalidInput(
            "The uploaded video is outside the limits: " + "; ".join(problems) + ".",
            param="file",
            code="video_limits_exceeded",
        )


def _check_decodable(ffmpeg: FFmpeg, path: Path) -> None:
    """Decode the first frame: a header can look fine on a file whose frames are garbage."""
    done = ffmpeg.run(
        ["-v", "error", *ffmpeg.input(path, upload=True), "-map", "0:v:0", "-frames:v", "1",
         "-f", "null", "-"],
        what="decode check",
        check=False,
    )  # fmt: skip
    if done.returncode != 0 or "Invalid data" in done.stderr:
        reason = _last_line(done.stderr).replace(f"{ffmpeg.path(path)}: ", "")
        raise InvalidInput(
            f"The uploaded video cannot be decoded ({reason}).",
            param="file",
            code="invalid_video",
        )


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _rate(value: Any) -> float:
    num, _, den = str(value or "").partition("/")
    try:
        return float(num) / float(den or 1) if float(den or 1) else 0.0
    except ValueError:
        return 0.0


def _rotation(stream: dict[str, Any]) -> int:
    """Display rotation in degrees (0-359) as ffprobe reports it, matrix first, legacy tag second."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(float(side["rotation"])) % 360
    return int(float(stream.get("tags", {}).get("rotate", 0))) % 360
