"""What the configured models can do per language, and the checks that refuse what they cannot.

Chat quality comes from configs/language_ratings.yaml (scripts/eval_languages.py writes it:
scores of a fixed set of product lines per chat model and language, and the rating the
thresholds there give them); the server only reads it. A TTS voice and Whisper support are
asked of the configured models themselves, so they follow the configuration.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from models.registry import ModelLoadError
from models.tts.base import SpeechBackend, UnknownVoice
from pipelines.chat_model import chat_model_id
from pipelines.errors import InvalidInput
from pipelines.languages import Language, load_languages

log = logging.getLogger(__name__)

Rating = Literal["good", "weak", "unsupported"]
ChatRating = Literal["good", "weak", "unsupported", "unrated"]


# --- the ratings file -----------------------------------------------------------------------
class RatingThresholds(BaseModel):
    """How scores become a rating. `chrf`: chrF (0-100) of the round trip en -> X -> en against
    the source lines; `passed`: share of lines whose translation passed the pipeline's checks
    (script, numbers, not left in English) at the first attempt; `kept`: share of the numbers,
    prices, sizes and SKUs kept; `native`: share of the translations' words that are not English
    copied from the source. A rating needs every one of its thresholds."""

    good_chrf: float = 55.0
    good_passed: float = 0.75
    good_kept: float = 0.95
    good_native: float = 0.9
    weak_chrf: float = 35.0
    weak_passed: float = 0.5
    weak_native: float = 0.7

    def rate(self, chrf: float, passed: float, kept: float, native: float) -> Rating:
        if (
            chrf >= self.good_chrf
            and passed >= self.good_passed
            and kept >= self.good_kept
            and native >= self.good_native
        ):
            return "good"
        if chrf >= self.weak_chrf and passed >= self.weak_passed and native >= self.weak_native:
            return "weak"
        return "unsupported"


class LanguageScore(BaseModel):
    rating: Rating
    chrf: float = Field(ge=0, le=100)
    passed: float = Field(ge=0, le=1)
    kept: float = Field(ge=0, le=1)
    native: float = Field(ge=0, le=1)


class ModelRatings(BaseModel):
    evaluated: str = Field(description="date of the evaluation")
    lines: int = Field(description="product lines translated per language")
    attempts: int = Field(1, description="per line, as the translation API's max_attempts")
    seconds: float | None = Field(None, description="wall time of the evaluation")
    languages: dict[str, LanguageScore]


class RatingBook(BaseModel):
    """The whole file: thresholds and, per chat model id, the score of each language."""

    thresholds: RatingThresholds = Field(default_factory=RatingThresholds)
    models: dict[str, ModelRatings] = Field(default_factory=dict)

    def score(self, model_id: str, code: str) -> LanguageScore | None:
        ratings = self.models.get(model_id)
        return ratings.languages.get(code) if ratings else None

    def rating(self, model_id: str, code: str) -> ChatRating:
        score = self.score(model_id, code)
        return score.rating if score else "unrated"


def load_ratings(path: Path) -> RatingBook:
    """The ratings file (re-read when it changes); no file: every model is unrated."""
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return RatingBook()
    return _parse_ratings(path, stamp)


@functools.lru_cache(maxsize=8)
def _parse_ratings(path: Path, stamp: int) -> RatingBook:
    return RatingBook.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def ratings_of(services: Any) -> RatingBook:
    """The ratings file named by the settings of a pipeline's services."""
    return load_ratings(Path(services.settings.language_ratings))


# --- checks on requests ---------------------------------------------------------------------
class LanguageWarning(BaseModel):
    """Part of a result whose language the chat model is rated weak in."""

    language: str
    rating: Literal["weak"] = "weak"
    message: str


def check_chat_languages(
    book: RatingBook, model_id: str, codes: Iterable[str], param: str
) -> list[LanguageWarning]:
    """Refuse languages the model is rated unsupported in (400 language_not_supported);
    a warning for each one it is rated weak in."""
    catalogue = load_languages()
    languages = [catalogue.get(code, param) for code in dict.fromkeys(codes)]
    refused = [lang for lang in languages if book.rating(model_id, lang.code) == "unsupported"]
    if refused:
        named = ", ".join(f"{lang.name} ({lang.code})" for lang in refused)
        raise InvalidInput(
            f"The chat model '{model_id}' is rated unsupported for {named}: its output there "
            "failed the language evaluation (scripts/eval_languages.py). Leave the language out "
            "or configure a chat model rated for it; GET /v1/languages lists the ratings.",
            param=param,
            code="language_not_supported",
        )
    return weak_language_warnings(book, model_id, (lang.code for lang in languages))


def weak_language_warnings(
    book: RatingBook, model_id: str, codes: Iterable[str]
) -> list[LanguageWarning]:
    """A warning for each language the model is rated weak in (for results: never raises)."""
    catalogue = load_languages()
    return [
        LanguageWarning(
            language=lang.code,
            message=f"The chat model '{model_id}' is rated weak for {lang.name}: have the "
            "text checked by someone who reads it before you publish it.",
        )
        for lang in (catalogue.find(code) for code in dict.fromkeys(codes))
        if lang is not None and book.rating(model_id, lang.code) == "weak"
    ]


def check_languages(
    services: Any, model_id: str, codes: Iterable[str], param: str
) -> list[LanguageWarning]:
    """check_chat_languages with the ratings file of the services' settings."""
    return check_chat_languages(ratings_of(services), model_id, codes, param)


def result_warnings(services: Any, model_id: str, codes: Iterable[str]) -> list[LanguageWarning]:
    """The warnings a job's result carries (its languages were checked at submission)."""
    return weak_language_warnings(ratings_of(services), model_id, codes)


def check_voices(
    tts: SpeechBackend,
    tts_model: str,
    languages: Sequence[Language],
    requested: dict[str, str],
) -> None:
    """Every language must have a voice (the one requested for it, else the model's voice for
    the language), so a dubbing job fails at submission rather than at its voice stage."""
    for language in languages:
        wanted = requested.get(language.code)
        try:
            tts.resolve_voice(wanted or language.code)
        except UnknownVoice as exc:
            if wanted:
                raise InvalidInput(str(exc), param="voices", code="unknown_voice") from exc
            raise InvalidInput(
                f"The TTS model '{tts_model}' has no voice for {language.name} "
                f"({language.code}). Leave the language out, choose a TTS model that speaks "
                "it (tts_model), or name one of its voices in `voices`; GET /v1/languages "
                "lists the voices per language.",
                param="languages",
                code="no_voice_for_language",
            ) from exc


# --- the report of GET /v1/languages --------------------------------------------------------
class ChatCoverage(BaseModel):
    model: str | None = Field(description="the chat model rated (default: the first configured)")
    rating: ChatRating = Field(
        description="good / weak (answers carry a warning) / unsupported (refused with 400) / "
        "unrated (no evaluation of this model: allowed, unchecked)"
    )
    chrf: float | None = None
    passed: float | None = None
    kept: float | None = None
    native: float | None = None


class VoiceOption(BaseModel):
    model: str
    voice: str


class SpeechCoverage(BaseModel):
    voices: list[VoiceOption] = Field(description="per TTS model, its voice for the language")


class TranscriptionCoverage(BaseModel):
    models: list[str] = Field(description="ASR models that transcribe the language")


class LanguageCoverage(Language):
    chat: ChatCoverage
    tts: SpeechCoverage
    asr: TranscriptionCoverage


@dataclass(frozen=True)
class CoverageReport:
    chat_model: str | None
    thresholds: RatingThresholds
    languages: list[LanguageCoverage]


async def language_coverage(services: Any, chat_model: str | None) -> CoverageReport:
    """What the configured models offer per language; ratings of `chat_model` (default: the
    default chat model, if there is one)."""
    registry = services.registry
    if chat_model is not None or any(spec.kind == "chat" for spec in registry.specs()):
        chat_model = chat_model_id(registry, chat_model)
    book = ratings_of(services)
    languages = await coverage_by_language(registry, book, chat_model)
    return CoverageReport(chat_model, book.thresholds, languages)


async def coverage_by_language(
    registry: Any, book: RatingBook, chat_model: str | None
) -> list[LanguageCoverage]:
    """Every language of the catalogue with what the configured models offer for it."""
    languages = load_languages().languages
    voices: dict[str, list[VoiceOption]] = {lang.code: [] for lang in languages}
    transcribed: dict[str, list[str]] = {lang.code: [] for lang in languages}
    for spec in registry.specs():
        if spec.kind not in ("tts", "asr"):
            continue
        try:
            async with registry.use(spec.id, kind=spec.kind) as backend:
                for lang in languages:
                    if spec.kind == "tts":
                        voice = _voice_of(backend, lang)
                        if voice is not None:
                            voices[lang.code].append(VoiceOption(model=spec.id, voice=voice))
                    elif _transcribes(backend, lang):
                        transcribed[lang.code].append(spec.id)
        except ModelLoadError:
            log.warning("language coverage: %s could not be loaded; left out", spec.id)
    return [
        LanguageCoverage(
            **lang.model_dump(),
            chat=_chat_coverage(book, chat_model, lang),
            tts=SpeechCoverage(voices=voices[lang.code]),
            asr=TranscriptionCoverage(models=transcribed[lang.code]),
        )
        for lang in languages
    ]


def _chat_coverage(book: RatingBook, model_id: str | None, language: Language) -> ChatCoverage:
    score = book.score(model_id, language.code) if model_id else None
    if score is None:
        return ChatCoverage(model=model_id, rating="unrated")
    return ChatCoverage(model=model_id, **score.model_dump())


def _voice_of(tts: SpeechBackend, language: Language) -> str | None:
    try:
        return tts.resolve_voice(language.code)
    except UnknownVoice:
        return None


def _transcribes(asr: Any, language: Language) -> bool:
    if not language.whisper:
        return False
    try:
        asr.check_language(language.whisper_code or language.code)
    except ValueError:  # UnknownLanguage / UnsupportedLanguage: not this model's
        return False
    return True
