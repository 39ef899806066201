"""What the configured models can do per language, and the warnings (or, where a measurement
says the output is unusable, the refusal) that the chat model's ratings give a request.

Chat quality comes from configs/language_ratings.yaml (scripts/eval_languages.py writes it: chrF
against NTREX-128's human references, through the translation pipeline and through a plain
prompt to the same weights, per chat model, language and source language); the server only
reads it. A TTS voice and Whisper support are read from the configured models' options and files
(no model is loaded to answer), so they follow the configuration.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field

from models.asr.base import supported_language
from models.registry import ModelLoadError
from models.tts.base import UnknownVoice, VoiceCatalogue
from pipelines.chat_model import chat_model_id
from pipelines.errors import InvalidInput
from pipelines.languages import Language, load_languages

log = logging.getLogger(__name__)

Rating = Literal["good", "weak", "unusable"]
ChatRating = Literal["good", "weak", "unusable", "unrated"]
OVERRIDE_FIELD = "allow_unusable_languages"
AllowUnusable = Annotated[
    bool,
    Field(
        description="true: also write the languages the chat model is measured unusable in "
        "(each with a warning) instead of refusing the request with 400 language_not_supported"
    ),
]
"""The request field (OVERRIDE_FIELD) by which a caller overrides a refusal."""


# --- the ratings file -----------------------------------------------------------------------
class Figures(BaseModel):
    """One way of translating (the pipeline, or a plain prompt) measured in one direction."""

    sentences: int = Field(description="NTREX-128 sentences translated")
    chrf: float = Field(ge=0, le=100, description="chrF (sacrebleu); an unanswered line is empty")
    chrf_low: float = Field(ge=0, le=100, description="bootstrap 95% confidence interval")
    chrf_high: float = Field(ge=0, le=100)
    answered: float = Field(ge=0, le=1, description="share of the sentences given a translation")
    kept: float = Field(
        ge=0, le=1, description="share of the answered sentences' numbers kept unchanged"
    )

    def describe(self) -> str:
        return (
            f"chrF {self.chrf:.1f} (95% CI {self.chrf_low:.1f}-{self.chrf_high:.1f}), "
            f"{self.answered:.0%} answered, {self.kept:.0%} of the numbers kept, "
            f"on {self.sentences} sentences"
        )


class DirectionScore(BaseModel):
    """Translations from one source language: what the API serves and what the bare model does."""

    pipeline: Figures = Field(description="through the translation pipeline (/v1/translations)")
    raw: Figures | None = Field(None, description="a plain translate prompt, greedy, no checks")


class RatingThresholds(BaseModel):
    """How the pipeline's figures become a rating (README, "Language coverage", shows lines at
    each band). `unusable` needs the whole confidence interval below `unusable_chrf`: a refusal
    rests on a measurement, never on a small sample's bad luck."""

    good_chrf: float = 45.0
    good_answered: float = 0.9
    good_kept: float = 0.95
    unusable_chrf: float = 10.0

    def rate(self, figures: Figures) -> Rating:
        if figures.chrf_high < self.unusable_chrf:
            return "unusable"
        if (
            figures.chrf >= self.good_chrf
            and figures.answered >= self.good_answered
            and figures.kept >= self.good_kept
        ):
            return "good"
        return "weak"


class LanguageScore(BaseModel):
    rating: Rating
    basis: str = Field(description="the source language whose pipeline figures give the rating")
    directions: dict[str, DirectionScore] = Field(description="by source language (zh, en)")

    @property
    def figures(self) -> Figures:
        return self.directions[self.basis].pipeline


class ModelRatings(BaseModel):
    evaluated: str = Field(description="date of the evaluation")
    reference: str = Field(description="the evaluation set and the sentences used")
    seconds: float | None = Field(None, description="wall time of the latest run")
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
    """A language of the result that the chat model is not rated good in, and why."""

    language: str
    rating: Literal["weak", "unusable", "unrated"]
    chrf: float | None = Field(None, description="the measured figure (none when unrated)")
    message: str


def check_chat_languages(
    book: RatingBook,
    model_id: str,
    codes: Iterable[str],
    param: str,
    allow_unusable: bool = False,
) -> list[LanguageWarning]:
    """The warnings of a request's languages; a language measured unusable is refused (400
    language_not_supported, with its figure) unless the caller allows it."""
    catalogue = load_languages()
    languages = [catalogue.get(code, param) for code in dict.fromkeys(codes)]
    warnings = language_warnings(book, model_id, (lang.code for lang in languages))
    refused = [w for w in warnings if w.rating == "unusable"]
    if refused and not allow_unusable:
        raise InvalidInput(
            " ".join(w.message for w in refused)
            + f" Leave the language out, configure a chat model rated for it, or send "
            f"{OVERRIDE_FIELD}: true to have it anyway; GET /v1/languages lists the ratings.",
            param=param,
            code="language_not_supported",
        )
    return warnings


def language_warnings(
    book: RatingBook, model_id: str, codes: Iterable[str]
) -> list[LanguageWarning]:
    """A warning for each language the model is not rated good in (for results: never raises)."""
    catalogue = load_languages()
    languages = [lang for lang in map(catalogue.find, dict.fromkeys(codes)) if lang is not None]
    return [
        warning
        for warning in (_warning(book, model_id, lang) for lang in languages)
        if warning is not None
    ]


def _warning(book: RatingBook, model_id: str, language: Language) -> LanguageWarning | None:
    named = f"The chat model '{model_id}'"
    score = book.score(model_id, language.code)
    if score is None:
        return LanguageWarning(
            language=language.code,
            rating="unrated",
            message=f"{named} has not been measured in {language.name}: have the text checked "
            "by someone who reads it before you publish it.",
        )
    if score.rating == "good":
        return None
    measured = (
        f"{score.figures.describe()} {score.basis}->{language.code} against human translations"
    )
    advice = {
        "weak": "Have the text checked by someone who reads it before you publish it.",
        "unusable": "Its output there is unusable.",
    }[score.rating]
    return LanguageWarning(
        language=language.code,
        rating=score.rating,
        chrf=score.figures.chrf,
        message=f"{named} is rated {score.rating} for {language.name}: {measured}. {advice}",
    )


def check_languages(
    services: Any, model_id: str, codes: Iterable[str], param: str, allow_unusable: bool = False
) -> list[LanguageWarning]:
    """check_chat_languages with the ratings file of the services' settings."""
    return check_chat_languages(ratings_of(services), model_id, codes, param, allow_unusable)


def result_warnings(services: Any, model_id: str, codes: Iterable[str]) -> list[LanguageWarning]:
    """The warnings a job's result carries (its languages were checked at submission)."""
    return language_warnings(ratings_of(services), model_id, codes)


def check_voices(
    tts: VoiceCatalogue,
    tts_model: str,
    languages: Sequence[Language],
    requested: dict[str, str],
) -> None:
    """Every language must have a voice (the one requested for it, else the model's voice for
    the language), so a dubbing job fails at submission rather than at its voice stage. A
    model whose files are not on this node (an API node) is checked where they are, when the
    job's voice stage runs: only what its config declares is known here."""
    for language in languages:
        wanted = requested.get(language.code)
        try:
            tts.resolve_voice(wanted or language.code)
        except UnknownVoice as exc:
            if not tts.complete:
                continue
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
        description="good / weak (answers carry a warning with the figure) / unusable (measured "
        f"so: refused with 400 unless {OVERRIDE_FIELD}) / unrated (not measured: answered with "
        "a warning)"
    )
    chrf: float | None = Field(None, description="the figure the rating rests on")
    basis: str | None = Field(None, description="its source language")
    directions: dict[str, DirectionScore] = Field(
        default_factory=dict, description="every measurement, by source language"
    )


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
    for spec in registry.specs():  # read from the config and files: no model is loaded
        try:
            if spec.kind == "tts":
                catalogue = await registry.voices(spec.id)
                for lang in languages:
                    voice = _voice_of(catalogue, lang)
                    if voice is not None:
                        voices[lang.code].append(VoiceOption(model=spec.id, voice=voice))
            elif spec.kind == "asr":
                codes = await registry.transcribed_languages(spec.id)
                for lang in languages:
                    if _transcribes(codes, lang):
                        transcribed[lang.code].append(spec.id)
        except ModelLoadError as exc:
            log.warning("language coverage: %s left out: %s", spec.id, exc)
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
    return ChatCoverage(
        model=model_id,
        rating=score.rating,
        chrf=score.figures.chrf,
        basis=score.basis,
        directions=score.directions,
    )


def _voice_of(tts: VoiceCatalogue, language: Language) -> str | None:
    try:
        return tts.resolve_voice(language.code)
    except UnknownVoice:
        return None


def _transcribes(codes: tuple[str, ...], language: Language) -> bool:
    if not language.whisper:
        return False
    try:
        supported_language(language.whisper_code or language.code, codes)
    except ValueError:  # UnknownLanguage / UnsupportedLanguage: not this model's
        return False
    return True
