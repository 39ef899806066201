"""The ffmpeg steps of a dub, on real generated clips, checked with ffprobe."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from pipelines.errors import InvalidInput
from pipelines.platform.jobs.context import JobContext
from pipelines.video import ffmpeg
from pipelines.video.audio import (
    MIX_RATE,
    MixOptions,
    extract_audio,
    measure_loudness,
    read_wav,
    time_stretch,
    write_wav,
)
from pipelines.video.ffmpeg import FFmpeg, MediaToolError, probe
from pipelines.video.mux import DubTrack, mux
from pipelines.video.settings import VideoSettings
from pipelines.video.stage_kit import timed
from tests.fixtures_server import wait_until
from tests.fixtures_video import Clip, ffprobe


def _job(tmp_path: Path, clip: Clip) -> tuple[FFmpeg, Path]:
    work = tmp_path / "job"
    work.mkdir(parents=True)
    upload = work / "input.mp4"
    shutil.copy(clip.path, upload)
    return FFmpeg(work, timeout_s=60), upload


def _tone(seconds: float, rate: int = 22050, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_probe_reads_duration_size_rotation_and_audio(tmp_path: Path, clips: dict[str, Clip]):
    for name, clip in clips.items():
        ff, upload = _job(tmp_path / name, clip)
        info = probe(ff, upload, VideoSettings())
        assert abs(info.duration_s - clip.seconds) < 0.05, name
        assert info.display_size == clip.size, name
        assert info.rotation == clip.rotation, name
        assert info.has_audio is clip.speech, name
        assert info.fps == pytest.approx(10.0)
        assert info.video_codec == "h264"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("text", "invalid_video"),
        ("audio_only", "no_video_stream"),
        ("playlist", "invalid_video"),
        ("truncated", "invalid_video"),
    ],
)
def test_probe_refuses_what_is_not_a_decodable_video(
    tmp_path: Path, bad_media: dict[str, Path], kind: str, code: str
):
    ff = FFmpeg(tmp_path, timeout_s=30)
    upload = tmp_path / "input.bin"
    shutil.copy(bad_media[kind], upload)
    with pytest.raises(InvalidInput) as caught:
        probe(ff, upload, VideoSettings())
    assert caught.value.code == code
    assert caught.value.status == 400


def test_probe_refuses_clips_over_the_limits(tmp_path: Path, clips: dict[str, Clip]):
    ff, upload = _job(tmp_path, clips["portrait_silent"])
    with pytest.raises(InvalidInput, match="limit is 4 s") as caught:
        probe(ff, upload, VideoSettings(max_duration_s=4))
    assert caught.value.code == "video_limits_exceeded"
    with pytest.raises(InvalidInput, match="more pixels"):
        probe(ff, upload, VideoSettings(max_pixels=320 * 200))


def test_ffmpeg_refuses_files_outside_the_job_folder(tmp_path: Path):
    ff = FFmpeg(tmp_path / "job")
    with pytest.raises(MediaToolError, match="outside the job folder"):
        ff.input(Path("/etc/hostname"))
    with pytest.raises(MediaToolError, match="outside the job folder"):
        ff.path("../escape.wav")


def test_ffmpeg_children_run_under_a_file_size_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 GiB cannot be written here; a tiny cap shows the limit is applied to the child itself
    monkeypatch.setattr("pipelines.video.ffmpeg.MAX_FILE_BYTES", 4096)
    ff = FFmpeg(tmp_path, timeout_s=60)
    testsrc = ["-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10"]
    with pytest.raises(MediaToolError):
        ff.run([*testsrc, "-c:v", "libx264", str(ff.path("big.mp4"))], what="encode")
    small = ff.run([*testsrc, "-frames:v", "1", "-c:v", "png", str(ff.path("one.png"))], what="one")
    assert small.returncode == 0


def test_audio_is_extracted_once_for_asr_and_for_the_mix(tmp_path: Path, clips: dict[str, Clip]):
    ff, upload = _job(tmp_path, clips["landscape_speech"])
    info = probe(ff, upload, VideoSettings())
    extracted = extract_audio(ff, upload, info)
    assert extracted is not None
    asr, asr_rate = read_wav(extracted.asr_wav)
    bg, bg_rate = read_wav(extracted.background_wav)
    assert (asr_rate, bg_rate) == (16000, 48000)
    assert abs(len(asr) / asr_rate - 6.0) < 0.05 and abs(len(bg) / bg_rate - 6.0) < 0.05
    assert np.abs(asr).max() > 0.05  # the narration is there


def test_silent_clip_has_no_audio_to_extract(tmp_path: Path, clips: dict[str, Clip]):
    ff, upload = _job(tmp_path, clips["portrait_silent"])
    assert extract_audio(ff, upload, probe(ff, upload, VideoSettings())) is None


def test_time_stretch_changes_duration_by_the_speed(tmp_path: Path):
    ff = FFmpeg(tmp_path)
    tone = _tone(2.0)
    faster = time_stretch(ff, tone, 22050, 1.25, "line0")
    assert len(faster) / 22050 == pytest.approx(2.0 / 1.25, abs=0.03)
    assert list(tmp_path.iterdir()) == []  # its scratch files are gone


@pytest.mark.parametrize("method", ["sidechain", "fixed"])
def test_mix_is_exact_length_and_normalised(tmp_path: Path, clips: dict[str, Clip], method: str):
    from pipelines.video.audio import mix

    ff, upload = _job(tmp_path, clips["landscape_speech"])
    info = probe(ff, upload, VideoSettings())
    extracted = extract_audio(ff, upload, info)
    assert extracted is not None
    voice = write_wav(ff.path("voice.wav"), np.concatenate([_tone(1.0) * 0, _tone(3.0)]), 22050)
    out = ff.path("mixed.wav")
    options = MixOptions(duck_method=method, loudness_lufs=-18.0)  # type: ignore[arg-type]
    mix(ff, voice, extracted.background_wav, out, info.duration_s, options)
    pcm, rate = read_wav(out)
    assert rate == MIX_RATE and len(pcm) == round(info.duration_s * MIX_RATE)
    assert measure_loudness(ff, out)["input_i"] == pytest.approx(-18.0, abs=1.0)


def test_mux_copies_video_and_adds_aac_and_soft_subtitles(tmp_path: Path, clips: dict[str, Clip]):
    clip = clips["rotated_phone"]
    ff, upload = _job(tmp_path, clip)
    info = probe(ff, upload, VideoSettings())
    tracks = []
    for lang in ("zh", "en"):
        audio = write_wav(ff.path(f"{lang}.wav"), _tone(info.duration_s, MIX_RATE), MIX_RATE)
        srt = ff.path(f"{lang}.srt")
        srt.write_text("1\n00:00:00,500 --> 00:00:02,000\n你好 hello\n", encoding="utf-8")
        tracks.append(DubTrack(lang, audio, srt, ff.path(f"{lang}.mp4")))
    assert mux(ff, upload, info, tracks, burn_in=False) is False
    source = ffprobe(upload)
    for track, lang in zip(tracks, ("zho", "eng"), strict=True):
        probed = ffprobe(track.output_mp4)
        kinds = {s["codec_type"]: s for s in probed["streams"]}
        assert kinds["video"]["codec_name"] == "h264"
        assert kinds["audio"]["codec_name"] == "aac"
        assert kinds["subtitle"]["codec_name"] == "mov_text"
        assert kinds["subtitle"]["tags"]["language"] == lang
        assert kinds["video"]["side_data_list"][0]["rotation"] == 90  # phone rotation kept
        # copied, not re-encoded: same size and frame count as the upload's stream
        assert kinds["video"]["nb_frames"] == source["streams"][0]["nb_frames"]
        assert float(probed["format"]["duration"]) == pytest.approx(clip.seconds, abs=0.05)


def test_burned_in_subtitles_reencode_upright(tmp_path: Path, clips: dict[str, Clip]):
    clip = clips["rotated_phone"]
    ff, upload = _job(tmp_path, clip)
    info = probe(ff, upload, VideoSettings())
    audio = write_wav(ff.path("ar.wav"), _tone(info.duration_s, MIX_RATE), MIX_RATE)
    srt = ff.path("ar.srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:03,000\n\u200fزجاجة ماء 500 مل\n", encoding="utf-8")
    track = DubTrack("ar", audio, srt, ff.path("ar.mp4"))
    assert mux(ff, upload, info, [track], burn_in=True) is True
    probed = ffprobe(track.output_mp4)
    video = next(s for s in probed["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == clip.size  # rotated into the picture itself
    assert float(probed["format"]["duration"]) == pytest.approx(clip.seconds, abs=0.05)


async def test_a_cancelled_stage_kills_the_ffmpeg_it_is_waiting_on(tmp_path: Path) -> None:
    """Cancelling a job cancels the stage awaiting ffmpeg in a thread; the child must die too,
    not run on to its timeout in the background."""
    ff = FFmpeg(tmp_path, timeout_s=600)
    endless = ["-f", "lavfi", "-i", "sine=d=600", "-f", "null", "-"]
    started = asyncio.Event()

    async def _stage(ctx: Any) -> None:
        started.set()
        await asyncio.to_thread(ff.run, endless, what="a long encode")

    context = SimpleNamespace(work_dir=tmp_path, job_id="job_test", checkpoint={}, result=None)
    task: asyncio.Future[None] = asyncio.ensure_future(timed(_stage)(cast(JobContext, context)))
    await started.wait()
    await wait_until(lambda: kill_count(tmp_path) == 1, "ffmpeg started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: kill_count(tmp_path) == 0, "the killed ffmpeg gone")


def kill_count(workdir: Path) -> int:
    """How many ffmpeg children run in `workdir` (without killing them)."""
    with ffmpeg._LIVE_LOCK:
        return len(ffmpeg._LIVE.get(workdir.resolve(), ()))
