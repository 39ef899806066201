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
    language_map,
    language_tag,
    pick_default_voice,
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
        voices: list[_EspeakVoice],
        languages: dict[str, str] | None = None,
        default: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self._binary = binary
        self._voices = {v.voice.id: v for v in voices}
        self._timeout_s = timeout_s
        auto: dict[str, tuple[int, str]] = {}
        for entry in voices:
            for lang, priority in entry.priorities.items():
                if lang not in auto or priority < auto[lang][0]:
                    auto[lang] = (priority, entry.voice.id)
        self.language_voices = language_map(
            self._voices, {lang: voice_id for lang, (_, voice_id) in auto.items()}, languages
        )
        self.default_voice = pick_default_voice(self._voices, self.language_voices, default)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> EspeakTTS:
        options: dict[str, Any] = spec.options
        binary = shutil.which(str(options.get("binary", "espeak-ng")))
        if binary is None:
            raise EspeakError(
                "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)"
            )
        timeout_s = float(options.get("timeout_s", 60.0))
        listing = _run([binary, "--voices"], b"", timeout_s).decode("utf-8", "replace")
        voices = parse_voice_listing(listing)
        if not voices:
            raise EspeakError(f"{binary} --voices listed no voices")
        return cls(
            binary,
            voices,
            languages=options.get("languages"),
            default=options.get("default_voice"),
            timeout_s=timeout_s,
        )

    def voices(self) -> list[Voice]:
        return [v.voice for v in self._voices.values()]

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        """One run for the whole text: espeak-ng speaks ~300x faster than real time, so a run
        per sentence would only add process start-ups before the first byte."""
        if split_sentences(text):
            yield self.synthesize(text, voice, speed)

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        entry = self._voices[self.resolve_voice(voice)]
        wpm = round(min(max(_DEFAULT_WPM * speed, _MIN_WPM), _MAX_WPM))
        # Text on stdin: an argument would be parsed as an option if it began with '-'.
        cmd = [self._binary, "-v", entry.file, "-s", str(wpm), "-b", "1", "--stdin", "--stdout"]
        return _pcm_from_wav(_run(cmd, text.encode("utf-8"), self._timeout_s))


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
