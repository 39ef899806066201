"""The text-to-speech interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.spec import ModelSpec

# OpenAI's stock voice names: clients (and their defaults) send these; they mean "the model's
# default voice" here unless the language/voice map of the model names them.
OPENAI_VOICES = frozenset(
    {
        "alloy",
        "ash",
        "ballad",
        "cedar",
        "coral",
        "echo",
        "fable",
        "marin",
        "nova",
        "onyx",
        "sage",
        "shimmer",
        "verse",
    }
)


@dataclass(frozen=True)
class SpeechAudio:
    """Mono audio: `pcm` is int16, or float32 in [-1, 1], at `sample_rate` Hz."""

    pcm: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate

    def to_int16(self) -> np.ndarray:
        if self.pcm.dtype == np.int16:
            return self.pcm
        return (np.clip(self.pcm, -1.0, 1.0) * 32767.0).astype(np.int16)

    @staticmethod
    def concatenate(parts: Iterable[SpeechAudio], sample_rate: int) -> SpeechAudio:
        """Join parts of one rate (an empty list gives zero samples at `sample_rate`)."""
        parts = list(parts)
        if any(p.sample_rate != sample_rate for p in parts):
            raise ValueError("cannot join audio of different sample rates")
        pcm = [p.to_int16() for p in parts]
        return SpeechAudio(np.concatenate(pcm) if pcm else np.zeros(0, np.int16), sample_rate)


@dataclass(frozen=True)
class Voice:
    """A voice a backend offers: `languages` are lower-case BCP-47-like tags, preferred first."""

    id: str
    languages: tuple[str, ...]
    gender: str | None = None
    name: str | None = None


class UnknownVoice(ValueError):
    """The requested voice is neither a voice id, a mapped language, nor an OpenAI stock name."""


def language_tag(value: str) -> str:
    """Normalise `en_US` / `EN-us` to `en-us`."""
    return value.strip().replace("_", "-").lower()


# Control characters (C0 and C1, DEL) but tab and line breaks: no voice says them, and some
# engines cannot take them (Piper's espeak bridge refuses NUL).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A character a voice can say: neither white space nor a control (nor a byte-order mark). One
# pattern for Python and for JSON Schema's regex dialect, so the API states what it checks.
SPEAKABLE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\ufeff]")


def speakable(text: str) -> str:
    """`text` without control characters (tab and line breaks stay): what every engine is given."""
    return _CONTROLS.sub("", text)


# Sentence ends: Latin punctuation followed by space, CJK full-width punctuation, or a new line.
_SENTENCE_END = re.compile(r"(?<=[.!?;…])\s+|(?<=[。！？；])\s*|\n\s*")


def split_sentences(text: str) -> list[str]:
    """Cut text into sentences for chunked synthesis; never returns empty pieces."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


@dataclass(frozen=True)
class VoiceCatalogue:
    """What a TTS model can say: its voices and the language tags that pick them.

    Read from the model's config and files without building its engine (`read_catalogue`), so
    that listing voices (GET /v1/languages) or checking a dubbing job never loads a model;
    the loaded engine answers by the same catalogue. `complete` is False where the model's
    files are not on this machine (an API node of a fleet): only the voices its config declares
    are known, and a name it does not declare may still be one of the model's.
    """

    voices: tuple[Voice, ...]
    language_voices: Mapping[str, str]  # language tag -> voice id
    default_voice: str  # for OpenAI stock names (alloy, ...)
    complete: bool = True

    def resolve_voice(self, name: str) -> str:
        """Map a request's `voice` to a voice id: an id, a language (`zh`), or an OpenAI name."""
        ids = {v.id.lower(): v.id for v in self.voices}
        wanted = name.strip().lower()
        if wanted in ids:
            return ids[wanted]
        tag = language_tag(name)
        while tag:
            if tag in self.language_voices:
                return self.language_voices[tag]
            tag = tag.rpartition("-")[0]  # zh-hans-cn -> zh-hans -> zh
        if wanted in OPENAI_VOICES:
            return self.default_voice
        raise UnknownVoice(
            f"Voice '{name}' is not available for this model. Use a voice id or a language "
            "code listed by GET /v1/audio/voices (e.g. 'en', 'zh')."
        )


class SpeechBackend(ABC):
    """A loaded text-to-speech model. Engine objects stay private; callers see only this.

    Subclasses set `catalogue` (their voices, see VoiceCatalogue) and read it, without an
    engine, in `read_catalogue`.
    """

    catalogue: VoiceCatalogue

    @classmethod
    @abstractmethod
    def read_catalogue(cls, spec: ModelSpec, path: Path) -> VoiceCatalogue:
        """The model's voices from its options and files (at `path`), without building its
        engine; where the files are not on this machine, what its options declare
        (`declared_catalogue`). ValueError / RuntimeError for files that are there but broken."""

    @property
    def default_voice(self) -> str:
        return self.catalogue.default_voice

    @property
    def language_voices(self) -> Mapping[str, str]:
        return self.catalogue.language_voices

    def voices(self) -> list[Voice]:
        """Every voice of this model."""
        return list(self.catalogue.voices)

    def resolve_voice(self, name: str) -> str:
        """Map a request's `voice` to a voice id: an id, a language (`zh`), or an OpenAI name."""
        return self.catalogue.resolve_voice(name)

    @abstractmethod
    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        """Speak `text` with `voice`: a voice id, or any name `resolve_voice` accepts.

        `speed` uses the engine's own tempo control where it has one; the HTTP API leaves it
        at 1.0 and changes tempo while encoding.
        """

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        """Speak `text` one sentence at a time, so a caller can send audio while the rest is made."""
        for sentence in split_sentences(text):
            yield self.synthesize(sentence, voice, speed)

    def close(self) -> None:  # noqa: B027 - engines without resources to free keep this default
        """Free the engine's resources; the object is unusable afterwards."""


def language_map(
    voice_ids: Iterable[str], automatic: Mapping[str, str], configured: Mapping[str, str] | None
) -> dict[str, str]:
    """The engine's own language -> voice preferences, overlaid with the configured map.

    A configured entry that names no voice of the model is a configuration error (ValueError).
    """
    known = set(voice_ids)
    result = dict(automatic)
    for lang, voice_id in (configured or {}).items():
        if voice_id not in known:
            raise ValueError(f"languages: '{lang}' -> '{voice_id}', but there is no such voice")
        result[language_tag(lang)] = voice_id
    return result


def pick_default_voice(
    voice_ids: Iterable[str], language_voices: Mapping[str, str], configured: str | None
) -> str:
    """The configured default voice, else the English one, else the first."""
    ids = list(voice_ids)
    if configured is not None:
        if configured not in ids:
            raise ValueError(f"default_voice '{configured}' is not a voice of this model")
        return configured
    return language_voices.get("en", ids[0])


def options_catalogue(
    voices: Iterable[Voice], automatic: Mapping[str, str], options: Mapping[str, Any]
) -> VoiceCatalogue:
    """The catalogue of a model's voices: the engine's own language -> voice preferences
    (`automatic`) under the `languages` and `default_voice` of its options."""
    voices = tuple(voices)
    ids = [voice.id for voice in voices]
    language_voices = language_map(ids, automatic, options.get("languages"))
    default = pick_default_voice(ids, language_voices, options.get("default_voice"))
    return VoiceCatalogue(voices, language_voices, default)


def declared_catalogue(
    options: Mapping[str, Any],
    voice_id: Callable[[str, str], str] = lambda _language, voice: voice,
) -> VoiceCatalogue:
    """What a model's options declare (`languages`: language -> voice, `default_voice`), for a
    machine without its files; `voice_id(language, configured)` is the voice id of an entry.
    Incomplete: the model may have more voices than these."""
    language_voices = {
        language_tag(lang): voice_id(language_tag(lang), str(voice))
        for lang, voice in (options.get("languages") or {}).items()
    }
    default = options.get("default_voice")
    ids = list(dict.fromkeys([*language_voices.values(), *([str(default)] if default else [])]))
    voices = tuple(
        Voice(id=i, languages=tuple(lang for lang, v in language_voices.items() if v == i))
        for i in ids
    )
    fallback = language_voices.get("en", ids[0] if ids else "")
    return VoiceCatalogue(voices, language_voices, str(default or fallback), complete=False)
