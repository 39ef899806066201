"""Encode speech PCM into the OpenAI audio formats with ffmpeg, changing tempo without pitch.

ffmpeg always runs from an argument list, reads raw PCM on stdin and writes the container on
stdout; no other protocol is allowed, so no input can make it open a file or a URL.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Literal, get_args

from models.tts.base import SpeechAudio

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
AUDIO_FORMATS: tuple[str, ...] = get_args(AudioFormat)
_READ_BLOCK = 1 << 16


@dataclass(frozen=True)
class OutputFormat:
    """How one response_format is made: codec arguments, container, rate and media type."""

    codec: tuple[str, ...]
    container: str
    sample_rate: int
    media_type: str


# As OpenAI's: 24 kHz mono everywhere except Opus, whose decoders always run at 48 kHz.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "mp3": OutputFormat(("-c:a", "libmp3lame", "-b:a", "64k"), "mp3", 24000, "audio/mpeg"),
    "opus": OutputFormat(("-c:a", "libopus", "-b:a", "32k"), "ogg", 48000, "audio/ogg"),
    "aac": OutputFormat(("-c:a", "aac", "-b:a", "64k"), "adts", 24000, "audio/aac"),
    "flac": OutputFormat(("-c:a", "flac"), "flac", 24000, "audio/flac"),
    "wav": OutputFormat(("-c:a", "pcm_s16le"), "wav", 24000, "audio/wav"),
    "pcm": OutputFormat(("-c:a", "pcm_s16le"), "s16le", 24000, "audio/pcm"),
}

MIN_SPEED, MAX_SPEED = 0.25, 4.0


class EncodeError(RuntimeError):
    pass


def atempo_chain(speed: float) -> list[float]:
    """Factors for a chain of ffmpeg `atempo` filters whose product is `speed`, each in 0.5–2.0."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed {speed} is outside {MIN_SPEED}–{MAX_SPEED}")
    factors: list[float] = []
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        factors.append(0.5)
        speed /= 0.5
    if abs(speed - 1.0) > 1e-6:
        factors.append(speed)
    return factors


def ffmpeg_command(
    fmt: str, input_rate: int, speed: float = 1.0, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """The ffmpeg arguments that turn mono s16le PCM on stdin into `fmt` on stdout."""
    out = OUTPUT_FORMATS[fmt]
    cmd = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error"]
    cmd += ["-protocol_whitelist", "pipe", "-f", "s16le", "-ar", str(input_rate), "-ac", "1"]
    cmd += ["-i", "pipe:0"]
    tempo = atempo_chain(speed)
    if tempo:
        cmd += ["-af", ",".join(f"atempo={factor:.6g}" for factor in tempo)]
    cmd += ["-ar", str(out.sample_rate), "-ac", "1", *out.codec]
    # No encoder tags or metadata (byte-stable output); send each packet as soon as it is muxed.
    cmd += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    cmd += ["-flush_packets", "1", "-f", out.container, "pipe:1"]
    return cmd


def encode_audio(
    audio: SpeechAudio, fmt: str, speed: float = 1.0, *, timeout_s: float = 120.0
) -> bytes:
    """Encode a whole clip (blocking: call it from a worker thread)."""
    cmd = ffmpeg_command(fmt, audio.sample_rate, speed)
    try:
        result = subprocess.run(
            cmd, input=audio.to_int16().tobytes(), capture_output=True, timeout=timeout_s
        )
    except FileNotFoundError as exc:
        raise EncodeError("ffmpeg is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"ffmpeg took longer than {timeout_s} s") from exc
    if result.returncode != 0:
        raise EncodeError(_ffmpeg_failed(result.returncode, result.stderr))
    return result.stdout


async def encode_stream(
    chunks: AsyncIterator[SpeechAudio],
    fmt: str,
    sample_rate: int,
    speed: float = 1.0,
    *,
    idle_timeout_s: float = 120.0,
) -> AsyncGenerator[bytes, None]:
    """Encode audio while it is being made: yields container bytes as ffmpeg writes them.

    Every chunk must be at `sample_rate`. A task of its own pulls `chunks` into ffmpeg and
    closes them (`aclose`) when done, failed or stopped: the source's own clean-up then runs to
    its end even when the caller is cancelled. Errors of the source are raised here, after
    ffmpeg was stopped (no truncated file is finished). Closing this iterator stops ffmpeg.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *ffmpeg_command(fmt, sample_rate, speed),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except BaseException as exc:
        await _aclose(chunks)
        if isinstance(exc, FileNotFoundError):
            raise EncodeError("ffmpeg is not installed") from exc
        raise
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def feed() -> None:
        try:
            async for chunk in chunks:
                if chunk.sample_rate != sample_rate:
                    raise EncodeError(f"{chunk.sample_rate} Hz audio in a {sample_rate} Hz stream")
                stdin.write(chunk.to_int16().tobytes())
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return  # ffmpeg stopped reading; its exit status tells why
        except BaseException:
            proc.kill()  # do not let ffmpeg finish a truncated file
            raise
        finally:
            stdin.close()
            await _aclose(chunks)

    feeder = asyncio.create_task(feed())
    errors = asyncio.create_task(proc.stderr.read())
    try:
        while block := await _read(stdout, idle_timeout_s):
            yield block
        await feeder
        returncode = await asyncio.wait_for(proc.wait(), idle_timeout_s)
        if returncode != 0:
            raise EncodeError(_ffmpeg_failed(returncode, await errors))
    finally:
        if proc.returncode is None:
            proc.kill()
        feeder.cancel()  # once: its clean-up (closing the source) must not be cut short
        # Shielded: a caller cancelled again and again (anyio) stops waiting, not the clean-up.
        await asyncio.shield(asyncio.gather(feeder, errors, proc.wait(), return_exceptions=True))


async def _aclose(chunks: AsyncIterator[SpeechAudio]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def _read(stdout: asyncio.StreamReader, timeout_s: float) -> bytes:
    try:
        return await asyncio.wait_for(stdout.read(_READ_BLOCK), timeout_s)
    except TimeoutError as exc:
        raise EncodeError(f"ffmpeg wrote nothing for {timeout_s} s") from exc


def _ffmpeg_failed(returncode: int, stderr: bytes) -> str:
    return f"ffmpeg failed ({returncode}): {stderr.decode('utf-8', 'replace').strip()[-1000:]}"
