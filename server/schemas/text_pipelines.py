"""Schemas of the merchant text endpoints (localshang extensions): translations and their checks,
copywriting, glossaries and the language list. Request bodies are the pipelines' own input models, so a
request and a job of the same type accept exactly the same fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.coverage import LanguageCoverage, RatingThresholds
from pipelines.platform.jobs.store import GlossaryRecord
from pipelines.text.copywriting_schema import CopywritingInput, CopywritingResult
from pipelines.text.faithfulness_schema import TranslationCheckInput, TranslationCheckResult
from pipelines.text.glossary import MAX_ENTRIES, GlossaryEntry
from pipelines.text.presets import ChannelPreset
from pipelines.text.translation_schema import TranslationInput, TranslationResult


class TranslationRequest(TranslationInput):
    """POST /v1/translations."""


class TranslationResponse(TranslationResult):
    pass


class TranslationCheckRequest(TranslationCheckInput):
    """POST /v1/translations/checks."""


class TranslationCheckResponse(TranslationCheckResult):
    pass


class CopywritingRequest(CopywritingInput):
    """POST /v1/copywriting."""


class CopywritingResponse(CopywritingResult):
    pass


class GlossaryPutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # parsed by parse_entries (code invalid_glossary); the schema states GlossaryEntry's rules
    entries: list[dict[str, Any]] = Field(
        max_length=MAX_ENTRIES,
        description='[{"term": "Yiwu Star", "translations": {"zh": "义乌之星"}}, {"term": "AB-1234"}]',
        json_schema_extra=lambda schema: schema.update(items=GlossaryEntry.model_json_schema()),
    )


class GlossaryObject(BaseModel):
    object: Literal["glossary"] = "glossary"
    name: str
    entries: list[GlossaryEntry]
    updated_at: int

    @classmethod
    def from_record(cls, record: GlossaryRecord) -> GlossaryObject:
        return cls(
            name=record.name,
            entries=[GlossaryEntry.model_validate(e) for e in record.entries],
            updated_at=int(record.updated_at),
        )


class GlossaryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[GlossaryObject]


class GlossaryDeleted(BaseModel):
    object: Literal["glossary.deleted"] = "glossary.deleted"
    name: str
    deleted: bool


class LanguageObject(LanguageCoverage):
    object: Literal["language"] = "language"


class LanguageList(BaseModel):
    object: Literal["list"] = "list"
    chat_model: str | None = Field(description="the chat model whose ratings are shown")
    thresholds: RatingThresholds = Field(
        description="how scripts/eval_languages.py turned scores into ratings"
    )
    data: list[LanguageObject]


class PresetList(BaseModel):
    object: Literal["list"] = "list"
    presets: dict[str, ChannelPreset]
    tones: dict[str, str]
