"""The translation checks' request and answer: the body of POST /v1/translations/checks and what
it finds, line by line, in a translation the merchant brings (a person's, another tool's, an
edited line)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.languages import LanguageCode
from pipelines.text.glossary import GLOSSARY_NAME, NOT_BLANK, GlossaryEntry
from pipelines.text.translation_schema import SourceLanguage

MAX_CHECK_CHARS = 4000  # per side: a listing or a script, not a catalogue (that is a job's size)
MAX_CHECK_LINES = 48  # per side: each translation line costs one back-translation
MAX_FACTS = 32

Verdict = Literal["pass", "review", "fail"]
FindingCode = Literal[
    "fact_missing",  # a number, price, size, SKU or URL of the source is not in the line
    "fact_changed",  # ... and another one stands in its place (3.20 -> 3.50)
    "fact_invented",  # a number, price, size, SKU, URL or spec claim (material, certification,
    # feature) that no source, fact or glossary gives
    "required_fact_missing",  # one of the request's `facts` is nowhere in the translation
    "polarity_flip",  # negated on one side only ("keeps drinks cold" / "不冷")
    "meaning_differs",  # the line and its source are far apart in meaning (embeddings)
    "back_translation_differs",  # what the line says back in the merchant's language is far off
    "hallucinated_line",  # a translation line with no source counterpart
    "line_omitted",  # a source line with no translation
    "leftover",  # untranslated words left in the line (not brands, codes or glossary terms)
    "guardrail",  # another translation guardrail (script, glossary, copy of the source, loop)
]


class TranslationCheckInput(BaseModel):
    """A source text and a translation of it to check; the body of POST /v1/translations/checks."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1, max_length=MAX_CHECK_CHARS, pattern=NOT_BLANK, description="the original"
    )
    translation: str = Field(
        min_length=1,
        max_length=MAX_CHECK_CHARS,
        pattern=NOT_BLANK,
        description="its translation, from anyone; lines are matched to the source's lines",
    )
    target_language: LanguageCode = Field(description="the language of `translation`")
    source_language: SourceLanguage = None
    merchant_language: LanguageCode = Field(
        "zh", description="the language every line is back-translated into, for the merchant"
    )
    facts: list[str] = Field(
        default_factory=list,
        max_length=MAX_FACTS,
        description='what the translation must carry, e.g. ["USD 3.20", "MOQ 100", "YW-8823"]',
    )
    glossary: str | None = Field(
        None,
        description="name of one of your stored glossaries: its terms are not leftovers",
        json_schema_extra={
            "anyOf": [{"type": "string", "pattern": GLOSSARY_NAME.pattern}, {"type": "null"}]
        },
    )
    glossary_entries: list[GlossaryEntry] = Field(default_factory=list, max_length=2000)
    back_translate: bool = Field(
        True, description="false: no back-translation (saves one generate call per line)"
    )
    model: str | None = Field(None, description="chat model that back-translates")
    embedding_model: str | None = Field(
        None, description="embedding model that compares meaning (default: the first configured)"
    )
    seed: int | None = 0

    @field_validator("facts")
    @classmethod
    def _facts(cls, value: list[str]) -> list[str]:
        for i, fact in enumerate(value):
            if not fact.strip() or len(fact) > 200:
                raise ValueError(f"fact {i} must be 1 to 200 characters, not blank")
        return [fact.strip() for fact in value]


class Finding(BaseModel):
    code: FindingCode
    verdict: Literal["review", "fail"] = Field(description="what this finding alone makes it")
    message: str
    message_zh: str = Field(description="the same, in Chinese, for the console")


class CheckedLine(BaseModel):
    index: int = Field(description="position of the line in the translation")
    translation: str
    source: str | None = Field(description="the source line it translates; null: none found")
    source_index: int | None
    back_translation: str | None = Field(
        description="what the line says in the merchant's language; null when not asked for"
    )
    similarity: float | None = Field(
        description="cross-lingual similarity of the source line and this line (0..1); for a "
        "line with no source, of its closest source line"
    )
    back_similarity: float | None = Field(
        description="similarity of the source line and the back-translation (0..1)"
    )
    verdict: Verdict
    findings: list[Finding]


class CheckThresholds(BaseModel):
    """The similarities below which a line is flagged (scripts/calibrate_checks.py)."""

    meaning_review_below: float
    back_translation_review_below: float
    hallucination_below: float


class TranslationCheckResult(BaseModel):
    object: Literal["translation.check"] = "translation.check"
    model: str | None = Field(description="chat model that back-translated; null when none did")
    embedding_model: str
    source_language: str
    target_language: str
    merchant_language: str
    alignment: Literal["lines", "sentences", "similarity"] = Field(
        description="how translation lines were matched to source lines: by position (same "
        "number of lines, or of sentences), else each to its most similar source line"
    )
    verdict: Verdict = Field(description="the worst verdict of the lines and of `findings`")
    lines: list[CheckedLine]
    findings: list[Finding] = Field(
        description="about the whole text: omitted source lines, required facts missing"
    )
    thresholds: CheckThresholds
