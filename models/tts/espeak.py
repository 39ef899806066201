"""espeak-ng backend: the formant synthesiser run as a program (~100 languages, no weights).

Options of the model spec (all optional):
    binary: espeak-ng            program name or path
    languages: {zh: cmn, en: en-us}   language -> voice id, over espeak's own preferences
    default_voice: en-us         voice for OpenAI stock names (alloy, ...)
    timeout_s: 60                per call
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.spec import ModelSpec
from models.tts.base import (
    SpeechAudio,
    SpeechBackend,
    Voice,
    VoiceCatalogue,
    declared_catalogue,
    language_tag,
    options_catalogue,
    split_sentences,
)

_DEFAULT_WPM = 175  # espeak-ng's own default rate
_MIN_WPM, _MAX_WPM = 80, 450
_LISTING = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$")
_OTHER_LANGUAGE = re.compile(r"\((\S+)\s+(\d+)\)")
_GENDERS = {"M": "male", "F": "female"}


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class _EspeakVoice:
    voice: Voice
    file: str  # what `-v` takes: unique even where two voices share a language
    priorities: dict[str, int]  # language -> espeak priority (lower is preferred)


class EspeakTTS(SpeechBackend):
    """Each call runs `espeak-ng --stdin --stdout` with an argument list; text goes in on stdin."""

    def __init__(
        self,
        binary: str,
        catalogue: VoiceCatalogue,
        files: dict[str, str],
        timeout_s: float = 60.0,
    ) -> None:
        self._binary = binary
        self.catalogue = catalogue
        self._files = files  # voice id -> what `-v` takes: unique where two share a language
        self._timeout_s = timeout_s

    @classmethod
    def read_catalogue(cls, spec: ModelSpec, path: Path) -> VoiceCatalogue:
        """espeak-ng's own listing of its voices (no engine to build); without the program on
        this machine, what the options declare."""
        binary = shutil.which(str(spec.options.get("binary", "espeak-ng")))
        if binary is None:
            return declared_catalogue(spec.options)
        return _catalogue(_listed_voices(binary, spec.options), spec.options)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> EspeakTTS:
        options: dict[str, Any] = spec.options
        binary = shutil.which(str(options.get("binary", "espeak-ng")))
        if binary is None:
            raise EspeakError(
                "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)"
            )
        voices = _listed_voices(binary, options)
        return cls(
            binary,
            _catalogue(voices, options),
            {entry.voice.id: entry.file for entry in voices},
            timeout_s=float(options.get("timeout_s", 60.0)),
        )

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        """One run for the whole text: espeak-ng speaks ~300x faster than real time, so a run
        per sentence would only add process start-ups before the first byte."""
        if split_sentences(text):
            yield self.synthesize(text, voice, speed)

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        file = self._files[self.resolve_voice(voice)]
        wpm = round(min(max(_DEFAULT_WPM * speed, _MIN_WPM), _MAX_WPM))
        # Text on stdin: an argument would be parsed as an option if it began with '-'.
        cmd = [self._binary, "-v", file, "-s", str(wpm), "-b", "1", "--stdin", "--stdout"]
        return _pcm_from_wav(_run(cmd, text.encode("utf-8"), self._timeout_s))


def _listed_voices(binary: str, options: dict[str, Any]) -> list[_EspeakVoice]:
    listing = _run([binary, "--voices"], b"", float(options.get("timeout_s", 60.0)))
    voices = parse_voice_listing(listing.decode("utf-8", "replace"))
    if not voices:
        raise EspeakError(f"{binary} --voices listed no voices")
    return voices


def _catalogue(voices: list[_EspeakVoice], options: dict[str, Any]) -> VoiceCatalogue:
    """Each language spoken by the voice espeak-ng gives the highest priority (lowest number)."""
    best: dict[str, tuple[int, str]] = {}
    for entry in voices:
        for lang, priority in entry.priorities.items():
            if lang not in best or priority < best[lang][0]:
                best[lang] = (priority, entry.voice.id)
    automatic = {lang: voice_id for lang, (_, voice_id) in best.items()}
    return options_catalogue((entry.voice for entry in voices), automatic, options)


def parse_voice_listing(listing: str) -> list[_EspeakVoice]:
    """Parse `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Other Languages`."""
    voices: list[_EspeakVoice] = []
    seen: set[str] = set()
    for line in listing.splitlines()[1:]:
        match = _LISTING.match(line)
        if match is None:
            continue
        priority, language, age_gender, name, file, others = match.groups()
        lang = language_tag(language)
        # Two files may speak one language (yue, yue-Latn-jyutping): the second goes by file name.
        voice_id = lang if lang not in seen else language_tag(file.rpartition("/")[2])
        if voice_id in seen:
            continue
        seen.add(voice_id)
        priorities = {lang: int(priority)}
        for other, other_priority in _OTHER_LANGUAGE.findall(others):
            priorities.setdefault(language_tag(other), int(other_priority))
        voices.append(
            _EspeakVoice(
                Voice(
                    id=voice_id,
                    languages=tuple(priorities),
                    gender=_GENDERS.get(age_gender.rpartition("/")[2]),
                    name=name.replace("_", " "),
                ),
                file=file,
                priorities=priorities,
            )
        )
    return voices


def _run(cmd: list[str], stdin: bytes, timeout_s: float) -> bytes:
    try:
        result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise EspeakError(f"espeak-ng took longer than {timeout_s} s") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise EspeakError(f"espeak-ng failed ({result.returncode}): {message}")
    return result.stdout


def _pcm_from_wav(data: bytes) -> SpeechAudio:
    """Read espeak's streamed WAV: its RIFF/data sizes are placeholders, so take what follows."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise EspeakError("espeak-ng did not write a WAV stream")
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt ":
            channels, rate, _, _, bits = struct.unpack_from("<HIIHH", data, pos + 10)
            if channels != 1 or bits != 16:
                raise EspeakError(f"unexpected espeak-ng output: {channels} ch, {bits} bit")
        elif chunk == b"data":
            body = data[pos + 8 :]
            body = body[: len(body) // 2 * 2]
            return SpeechAudio(np.frombuffer(body, dtype="<i2").astype(np.int16), rate)
        pos += 8 + size + (size & 1)
    raise EspeakError("espeak-ng WAV stream has no data chunk")
