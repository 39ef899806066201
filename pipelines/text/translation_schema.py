"""The translation API's request and result: the body of POST /v1/translations, the input and
result of "translation" jobs, and the report of segments that failed their checks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import JsonDict

from pipelines.coverage import AllowUnusable, LanguageWarning
from pipelines.errors import OutputRejected
from pipelines.languages import LanguageCode, language_codes, load_languages
from pipelines.text.glossary import GLOSSARY_NAME, NOT_BLANK, GlossaryEntry

MAX_TEXTS = 256
TEXT_SCHEMA: JsonDict = {"type": "string", "pattern": NOT_BLANK}


def _detectable(value: str | None) -> str | None:
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    catalogue = load_languages()
    language = catalogue.find(value)
    if language is None:
        raise ValueError(
            f"Unsupported language '{value}'. Supported: auto, {', '.join(catalogue.codes())}"
        )
    return language.code


# A source language field: a supported code, or null / "" / "auto" (None: detect it)
SourceLanguage = Annotated[
    str | None,
    AfterValidator(_detectable),
    Field(
        description='BCP-47 code, or null/"auto" to detect',
        json_schema_extra=lambda schema: schema.update(
            anyOf=[{"type": "string", "enum": ["auto", "", *language_codes()]}, {"type": "null"}]
        ),
    ),
]


class TranslationInput(BaseModel):
    """What to translate; the body of POST /v1/translations and the input of "translation" jobs."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="chat model (default: the first configured)")
    text: str | list[str] = Field(
        description="one text or a batch of texts, none of them blank",
        json_schema_extra={
            "anyOf": [
                TEXT_SCHEMA,
                {"type": "array", "items": TEXT_SCHEMA, "minItems": 1, "maxItems": MAX_TEXTS},
            ]
        },
    )
    source_language: SourceLanguage = None
    target_languages: list[LanguageCode] = Field(min_length=1, max_length=64)
    merchant_language: LanguageCode = Field(
        "zh",
        description="the language each translation is back-translated into, for a merchant "
        "who cannot read the target language",
    )
    back_translate: bool = Field(
        True,
        description="give each translation's back_translation; false saves one generate call "
        "per text and target language",
    )
    glossary: str | None = Field(
        None,
        description="name of one of your stored glossaries",
        json_schema_extra={
            "anyOf": [{"type": "string", "pattern": GLOSSARY_NAME.pattern}, {"type": "null"}]
        },
    )
    glossary_entries: list[GlossaryEntry] = Field(default_factory=list, max_length=2000)
    max_attempts: int = Field(3, ge=1, le=6, description="per segment, before it is reported")
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    seed: int | None = 0
    on_failure: Literal["error", "report"] = Field(
        "error",
        description="error: fail the request if any segment fails its checks; report: return "
        "the translations that passed and a failure report (text null) for the others",
    )
    allow_unusable_languages: AllowUnusable = False

    @field_validator("target_languages", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _texts(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts or len(texts) > MAX_TEXTS:
            raise ValueError(f"give 1 to {MAX_TEXTS} texts")
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"text {i} is empty")
        return value

    def texts(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)

    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.target_languages))  # de-duplicated, in order


class SegmentFailure(BaseModel):
    segment_index: int
    source: str
    output: str | None = Field(description="the last candidate, which failed the checks")
    problems: list[str]
    attempts: int


class TranslationItem(BaseModel):
    index: int = Field(description="position of the source text in the request")
    source_language: str | None
    target_language: str
    status: Literal["ok", "failed"]
    text: str | None = Field(description="null when a segment failed its checks")
    segments: int
    attempts: int = Field(description="generate calls made for this text and target")
    failures: list[SegmentFailure] = Field(default_factory=list)
    back_translation: str | None = Field(
        None,
        description="what `text` says in the request's merchant_language (a second "
        "translation, back); null when not asked for or when `text` is null",
    )


class TranslationResult(BaseModel):
    object: Literal["translation"] = "translation"
    model: str
    translations: list[TranslationItem]
    failed: int = 0
    warnings: list[LanguageWarning] = Field(
        default_factory=list,
        description="target languages the chat model is not rated good in (weak, unrated, or "
        "unusable and allowed), with the measured figure",
    )

    def raise_for_failures(self) -> None:
        failed = [t for t in self.translations if t.status == "failed"]
        if not failed:
            return
        described = []
        for item in failed[:5]:
            for failure in item.failures[:3]:
                described.append(
                    f"text {item.index} -> {item.target_language}, segment "
                    f"{failure.segment_index} ({failure.source[:60]!r}): "
                    f"{'; '.join(failure.problems)} after {failure.attempts} attempts"
                )
        raise OutputRejected(
            f"{len(failed)} of {len(self.translations)} translations failed the merchant "
            "checks: " + " | ".join(described),
            param="text",
            code="translation_check_failed",
            details=[t.model_dump() for t in failed],
        )
