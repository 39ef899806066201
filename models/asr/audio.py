"""Decode any container PyAV (FFmpeg) reads into 16 kHz mono float32 PCM, frame by frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

SAMPLE_RATE = 16_000
# Demuxers of audio and video files, and only those: a playlist (hls), a concat list, an SDP
# stream description or an image sequence would make FFmpeg open further files, URLs or UDP
# ports named inside the upload. No protocol but local files for anything nested.
AUDIO_DEMUXERS = (
    "wav,w64,mp3,aac,ac3,eac3,dts,flac,ogg,matroska,mov,avi,asf,amr,aiff,caf,au,wv,ape,tta,"
    "flv,mpegts,mpeg"
)
OPEN_OPTIONS = {"format_whitelist": AUDIO_DEMUXERS, "protocol_whitelist": "file"}


class AudioDecodeError(ValueError):
    """The input cannot become speech samples; `code` says why, the message says it to a person."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def decode_audio(
    source: str | Path | BinaryIO,
    *,
    max_seconds: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Decode the first audio track of `source` to mono float32 at `sample_rate`.

    Reads the input packet by packet (a file object is never loaded whole) and stops as soon
    as the decoded audio passes `max_seconds`. Corrupt packets inside an otherwise readable
    stream are skipped, as FFmpeg does.

    Raises AudioDecodeError with code `invalid_audio` (not a media file, or nothing in it
    decodes), `no_audio_stream` (e.g. an image or a silent video), `empty_audio` (zero
    samples) or `audio_too_long`.
    """
    try:
        container = av.open(source, mode="r", metadata_errors="ignore", options=OPEN_OPTIONS)
    except av.ArgumentError as exc:  # what a demuxer outside the whitelist gets
        raise AudioDecodeError(
            "The file is not an audio or video file this server reads (playlists and stream "
            "descriptions are refused). Send a file in a format such as wav, mp3, m4a, ogg, "
            "webm, flac or mp4.",
            code="invalid_audio",
        ) from exc
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(
            "The file could not be read as audio or video: "
            f"{_reason(exc)}. Send a file in a format such as wav, mp3, m4a, ogg, webm, "
            "flac or mp4.",
            code="invalid_audio",
        ) from exc
    try:
        return _decode(container, max_seconds, sample_rate)
    finally:
        container.close()


def _decode(
    container: av.container.InputContainer, max_seconds: float | None, sample_rate: int
) -> np.ndarray:
    if not container.streams.audio:
        kinds = ", ".join(sorted({str(s.type) for s in container.streams})) or "no streams"
        raise AudioDecodeError(
            f"The file has no audio track (found: {kinds}; format {container.format.name}).",
            code="no_audio_stream",
        )
    stream = container.streams.audio[0]
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    declared = _declared_seconds(container, stream)
    if max_seconds is not None and declared is not None and declared > max_seconds + 1:
        raise _too_long(max_seconds, declared)

    chunks: list[np.ndarray] = []
    total = 0
    damaged = False
    for chunk in _resampled(container, stream, sample_rate):
        if chunk is None:
            damaged = True
            continue
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise _too_long(max_seconds or 0.0, total / sample_rate)
    if total == 0:
        if damaged:
            raise AudioDecodeError(
                "The audio track could not be decoded: the file is damaged or truncated.",
                code="invalid_audio",
            )
        raise AudioDecodeError("The audio track is empty: it holds no samples.", "empty_audio")
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _resampled(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, rate: int
) -> Iterator[np.ndarray | None]:
    """Mono float32 blocks at `rate`; None for each damaged packet (skipped, as FFmpeg does).

    A read error ends the stream with what was decoded before it: a truncated upload still
    yields its first part.
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError:
            yield None
            break
        try:
            frames = packet.decode()
        except av.FFmpegError:
            yield None
            continue
        for frame in frames:
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):  # flush what the resampler still holds
        yield out.to_ndarray().reshape(-1)


def _declared_seconds(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> float | None:
    """What the header claims, if anything (it can lie; the decode loop checks again)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _too_long(max_seconds: float, seconds: float) -> AudioDecodeError:
    return AudioDecodeError(
        f"The audio is longer than the {max_seconds:g} s this server accepts "
        f"(it runs {seconds:.1f} s or more). Split it into shorter files.",
        code="audio_too_long",
    )


def _reason(exc: Exception) -> str:
    # FFmpegError's str() repeats the errno and file name; its strerror is the useful part
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")
