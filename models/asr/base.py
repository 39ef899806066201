"""The speech-to-text interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from models.asr.languages import language_code, language_name
from models.spec import ModelSpec

Task = Literal["transcribe", "translate"]


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    words: tuple[Word, ...] = ()
    seek: int = 0
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Transcript:
    language: str
    duration: float
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()


@dataclass
class TranscriptStream:
    """A transcription under way: what is known up front, then segments as they are decoded.

    Each step of `segments` runs the model: iterate it off the event loop.
    """

    language: str
    language_probability: float
    duration: float
    segments: Iterator[Segment]

    def collect(self) -> Transcript:
        return Transcript(self.language, self.duration, tuple(self.segments))


class UnsupportedLanguage(ValueError):
    """A language Whisper knows but this model does not (an English-only model asked for 'de')."""


def supported_language(language: str, languages: Collection[str]) -> str:
    """The code for `language` of a model that transcribes `languages`; UnknownLanguage /
    UnsupportedLanguage if it has none."""
    code = language_code(language)
    if code not in languages:
        raise UnsupportedLanguage(
            f"This model does not support '{language}' ({language_name(code)}); it supports "
            + ", ".join(languages)
            + "."
        )
    return code


class TranscriptionBackend(ABC):
    """A loaded speech-to-text model. Engine objects stay private; callers see only this.

    Subclasses set `languages`: the codes (Whisper's, see models.asr.languages) it transcribes,
    and read them without an engine in `read_languages`.
    """

    languages: tuple[str, ...]

    @classmethod
    @abstractmethod
    def read_languages(cls, spec: ModelSpec, path: Path) -> tuple[str, ...]:
        """The codes the model at `path` transcribes, from its files, without building its
        engine (GET /v1/languages); where they are not on this machine, all it may know."""

    def check_language(self, language: str) -> str:
        """This model's code for `language`; UnknownLanguage / UnsupportedLanguage if it has none."""
        return supported_language(language, self.languages)

    @abstractmethod
    def stream(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        task: Task = "transcribe",
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        vad_filter: bool | None = None,
    ) -> TranscriptStream:
        """Start transcribing (or translating to English) 16 kHz mono `audio`.

        Detects the language when none is given; decoding happens as `segments` is iterated.
        A temperature of 0 means the engine's fallback ladder, as in OpenAI's API. `beam_size`
        overrides the model's own for this call (1: greedy, several times faster, for checks
        rather than subtitles). `vad_filter`: decode only what voice activity detection hears
        as speech, so that silence, music or a tone gives no segments rather than invented
        words (None: the model's configured default).
        """

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        task: Task = "transcribe",
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        vad_filter: bool | None = None,
    ) -> Transcript:
        """`stream(...)` run to the end."""
        return self.stream(
            audio,
            language=language,
            task=task,
            prompt=prompt,
            temperature=temperature,
            word_timestamps=word_timestamps,
            beam_size=beam_size,
            vad_filter=vad_filter,
        ).collect()

    def close(self) -> None:  # noqa: B027 - engines without resources to free keep this default
        """Free the engine's memory; the object is unusable afterwards."""
