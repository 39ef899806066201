"""Audio steps of a dub: extract once, WAV in/out, time-stretch, ducked mix, loudness (EBU R128),
and how far the voice stands over the clip's own sound in the final mix."""

from __future__ import annotations

import json
import math
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pipelines.video.ffmpeg import FFmpeg, MediaInfo, MediaToolError

MIX_RATE = 48_000
ASR_RATE = 16_000
SILENT_LUFS = -70.0  # EBU R128's absolute gate: anything quieter is silence

MixMode = Literal["duck", "replace"]
DuckMethod = Literal["sidechain", "fixed"]


@dataclass(frozen=True)
class MixOptions:
    """How the voice-over meets the clip's own sound."""

    mode: MixMode = "duck"
    duck_method: DuckMethod = "sidechain"
    duck_gain_db: float = -14.0  # fixed ducking: the original audio is this much quieter
    loudness_lufs: float = -16.0  # integrated loudness target of the final track
    true_peak_db: float = -1.5


@dataclass(frozen=True)
class ExtractedAudio:
    """The clip's audio decoded once: 16 kHz mono for Whisper, 48 kHz stereo for the mix."""

    asr_wav: Path
    background_wav: Path


def extract_audio(ff: FFmpeg, upload: Path, info: MediaInfo) -> ExtractedAudio | None:
    """One decode of the upload's audio into both forms; None for a silent clip."""
    if not info.has_audio:
        return None
    asr, background = ff.path("audio_16k.wav"), ff.path("audio_48k.wav")
    ff.run(
        [*ff.input(upload, upload=True), "-filter_complex", "[0:a:0]asplit=2[asr][bg]",
         "-map", "[asr]", "-ac", "1", "-ar", str(ASR_RATE), "-t", f"{info.duration_s:.6f}",
         "-c:a", "pcm_s16le", str(asr),
         "-map", "[bg]", "-ac", "2", "-ar", str(MIX_RATE), "-t", f"{info.duration_s:.6f}",
         "-c:a", "pcm_s16le", str(background)],
        what="extract audio",
    )  # fmt: skip
    return ExtractedAudio(asr, background)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise MediaToolError(f"{path.name}: expected 16-bit PCM, got {8 * width}-bit")
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm, rate


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> Path:
    """Write mono float samples as 16-bit PCM."""
    ints = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(ints.tobytes())
    return path


def trim_silence(pcm: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Drop the leading and trailing silence a synthesiser adds, keeping 20 ms either side."""
    loud = np.flatnonzero(np.abs(pcm) > threshold)
    if loud.size == 0:
        return pcm[:0]
    margin = int(0.02 * rate)
    return pcm[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def onset_s(pcm: np.ndarray, rate: int, threshold: float = 0.01) -> float | None:
    """Time of the first sample louder than `threshold`, or None when all is silence."""
    loud = np.flatnonzero(np.abs(pcm) > threshold)
    return float(loud[0]) / rate if loud.size else None


def time_stretch(ff: FFmpeg, pcm: np.ndarray, rate: int, speed: float, name: str) -> np.ndarray:
    """Play `pcm` `speed` times faster without changing its pitch (ffmpeg atempo, 0.5-2.0)."""
    if not 0.5 <= speed <= 2.0:
        raise ValueError(f"speed {speed} is outside atempo's 0.5-2.0")
    src, dst = ff.path(f"{name}.in.wav"), ff.path(f"{name}.stretched.wav")
    write_wav(src, pcm, rate)
    ff.run(
        [*ff.input(src), "-af", f"atempo={speed:.5f}", "-c:a", "pcm_s16le", str(dst)],
        what="time-stretch",
    )
    stretched, _ = read_wav(dst)
    src.unlink(missing_ok=True)
    dst.unlink(missing_ok=True)
    return stretched


def measure_loudness(ff: FFmpeg, path: Path) -> dict[str, float]:
    """EBU R128 measurement of the first audio stream: input_i (LUFS), input_tp, input_lra, ..."""
    done = ff.run(
        [*ff.input(path), "-map", "0:a:0", "-af", "loudnorm=print_format=json", "-f", "null", "-"],
        what="loudness measurement",
    )
    match = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", done.stderr)
    if match is None:
        raise MediaToolError("loudness measurement: loudnorm printed no statistics")
    stats: dict[str, float] = {}
    for key, value in json.loads(match.group(0)).items():
        try:
            stats[key] = float(value)
        except ValueError:
            continue
    return stats


@dataclass(frozen=True)
class Heard:
    """What a meter hears of a finished file's audio, measured on the way to Whisper."""

    loudness_lufs: float | None
    true_peak_dbtp: float | None
    silences: list[tuple[float, float]]  # (start, end) in seconds


SILENCE_DB = -50.0  # quieter than this is silence (a ducked background is well above it)
MIN_SILENCE_S = 1.0


def listen(ff: FFmpeg, media: Path, asr_wav: Path, duration_s: float) -> Heard:
    """One decode of `media`'s audio (the final MP4): 16 kHz mono for Whisper in `asr_wav`, and on
    the way its EBU R128 loudness, true peak and silences."""
    done = ff.run(
        ["-nostats", *ff.input(media), "-map", "0:a:0", "-af",
         f"ebur128=peak=true:framelog=verbose,"
         f"silencedetect=noise={SILENCE_DB}dB:d={MIN_SILENCE_S}",
         "-ac", "1", "-ar", str(ASR_RATE), "-c:a", "pcm_s16le", str(asr_wav)],
        what="listen to the final mix",
    )  # fmt: skip
    summary = done.stderr[done.stderr.rfind("Summary:") :]
    loudness = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    starts = [float(t) for t in re.findall(r"silence_start: (-?[\d.]+)", done.stderr)]
    ends = [float(t) for t in re.findall(r"silence_end: (-?[\d.]+)", done.stderr)]
    ends += [duration_s] * (len(starts) - len(ends))  # a silence that lasts to the end
    return Heard(
        loudness_lufs=float(loudness.group(1)) if loudness else None,
        true_peak_dbtp=float(peak.group(1)) if peak else None,
        silences=[(round(max(0.0, a), 3), round(b, 3)) for a, b in zip(starts, ends, strict=True)],
    )


def mix(
    ff: FFmpeg,
    voice_wav: Path,
    background_wav: Path | None,
    out_wav: Path,
    duration_s: float,
    options: MixOptions,
) -> dict[str, float]:
    """Voice over the (ducked or dropped) original, normalised to the loudness target.

    Two-pass loudnorm: measure the premix, then apply linear gain with the measured values, so
    short clips are not pumped by loudnorm's dynamic mode. The result has exactly
    round(duration_s * 48000) samples. Returns the loudnorm statistics of the premix.
    """
    samples = round(duration_s * MIX_RATE)
    premix = ff.path(out_wav.stem + ".premix.wav")
    voice = f"aresample={MIX_RATE},aformat=channel_layouts=stereo"
    if background_wav is None or options.mode == "replace":
        inputs, graph = ff.input(voice_wav), f"[0:a]{voice},apad=whole_len={samples}[mix]"
    else:
        inputs = [*ff.input(voice_wav), *ff.input(background_wav)]
        bg = f"[1:a]aresample={MIX_RATE},aformat=channel_layouts=stereo,apad=whole_len={samples}"
        if options.duck_method == "sidechain":
            graph = (
                f"[0:a]{voice},apad=whole_len={samples},asplit=2[v][key];{bg}[bg];"
                "[bg][key]sidechaincompress=threshold=0.02:ratio=12:attack=15:release=350[ducked];"
                "[v][ducked]amix=inputs=2:duration=first:normalize=0[mix]"
            )
        else:
            graph = (
                f"[0:a]{voice},apad=whole_len={samples}[v];"
                f"{bg},volume={options.duck_gain_db}dB[ducked];"
                "[v][ducked]amix=inputs=2:duration=first:normalize=0[mix]"
            )
    ff.run(
        [*inputs, "-filter_complex", f"{graph};[mix]atrim=end_sample={samples}[out]",
         "-map", "[out]", "-c:a", "pcm_s16le", str(premix)],
        what="mix",
    )  # fmt: skip
    measured = measure_loudness(ff, premix)
    if measured.get("input_i", SILENT_LUFS) <= SILENT_LUFS:
        premix.replace(out_wav)  # nothing to normalise: silence stays silence
        return measured
    target = (
        f"loudnorm=I={options.loudness_lufs}:TP={options.true_peak_db}:LRA=11"
        f":measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
        f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
        f":offset={measured.get('target_offset', 0.0)}:linear=true"
    )
    ff.run(
        [*ff.input(premix), "-af",
         f"{target},aresample={MIX_RATE},apad=whole_len={samples},atrim=end_sample={samples}",
         "-ac", "2", "-c:a", "pcm_s16le", str(out_wav)],
        what="loudness normalisation",
    )  # fmt: skip
    premix.unlink(missing_ok=True)
    return measured


VOICE_FRAME_S = 0.02
VOICE_ACTIVE_DB = -30.0  # a frame of the voice track within this of its loudest is speech
MAX_LAG_S = 0.1  # the mix may lag the voice track by the AAC encoder's delay


def voice_over_background_db(mix: np.ndarray, voice: np.ndarray, rate: int) -> float | None:
    """How far the voice stands over everything else in the final `mix` while it speaks, in dB
    (None where the voice track is silent): what decides whether a buyer can follow it.

    The mix is the voice track at one gain (the loudness normalisation is linear) plus the clip's
    own sound: the voice's part is the mix's least-squares projection on the voice track (at
    the lag, up to MAX_LAG_S, where they correlate best), the rest is the background (and the
    coding noise, which caps the figure for a clean voice).
    """
    n = min(len(mix), len(voice))
    frame = max(1, round(VOICE_FRAME_S * rate))
    frames = n // frame
    if frames == 0:
        return None
    mix, voice = (
        mix[: frames * frame].astype(np.float64),
        voice[: frames * frame].astype(np.float64),
    )
    size = 1 << int(2 * n - 1).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(mix, size) * np.conj(np.fft.rfft(voice, size)), size)
    most = round(MAX_LAG_S * rate)
    lags = np.r_[0 : most + 1, -most:0]
    lag = int(lags[np.argmax(correlation[lags])])
    voice = np.roll(voice, lag)  # the mix at t holds the voice track at t - lag
    energy = (voice.reshape(frames, frame) ** 2).mean(axis=1)
    active = np.repeat(energy > energy.max() * 10 ** (VOICE_ACTIVE_DB / 10), frame)
    if energy.max() <= 0 or not active.any():
        return None
    m, v = mix[active], voice[active]
    gain = float(m @ v) / float(v @ v)
    rest = float(((m - gain * v) ** 2).sum())
    spoken = float(((gain * v) ** 2).sum())
    return round(10 * math.log10(max(spoken, 1e-12) / max(rest, 1e-12)), 1)
