"""The copywriting API's request (product facts, languages, preset) and result, and the JSON
schema a model's copy for one language must validate against."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from pipelines.coverage import AllowUnusable, LanguageWarning
from pipelines.languages import LanguageCode
from pipelines.text.glossary import NOT_BLANK
from pipelines.text.presets import load_presets

MAX_POINTS = 8
MAX_SCRIPT_LINES = 12
MAX_LINE_CHARS = 400
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LINE_CHARS)
]


# --- the published schema -------------------------------------------------------------------
class ScriptLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visual: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = Field(
        description="what the camera shows"
    )
    voiceover: Line = Field(description="what is said")


class ProductCopy(BaseModel):
    """What the model writes for one language (the schema given to guided decoding)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    selling_points: list[Line] = Field(min_length=3, max_length=MAX_POINTS)
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
    ]
    video_script: list[ScriptLine] = Field(min_length=1, max_length=MAX_SCRIPT_LINES)


CopyField = Literal["title", "selling_points", "description", "video_script"]
UngroundedAction = Literal["removed", "kept"]


class Ungrounded(BaseModel):
    """A fact of the copy that the product facts do not give (a number, price, code, material,
    certification or feature claim)."""

    field: CopyField
    line: str = Field(description="the line, selling point or description sentence stating it")
    fact: str = Field(description="the fact as the copy words it")
    action: UngroundedAction = Field(
        description="removed: the line is not in the copy (a title became the product name); "
        "kept: the line had to stay (too few would be left, or a title with no name in the "
        "copy's script to put instead) and needs the merchant's check"
    )


class CopyReading(BaseModel):
    """What a copy says in the merchant's language, field by field (null where the model gave
    nothing readable)."""

    title: str | None
    selling_points: list[str | None]
    description: str | None
    video_script: list[str | None] = Field(description="each voice-over line")


class LanguageCopy(ProductCopy):
    language: str
    written: Literal["written", "translated"] = Field(
        "written",
        description="translated: on every attempt the model wrote good copy in another language "
        "(often the product facts' own), so that copy was translated line by line, with the "
        "translation checks, into this language",
    )
    back_translation: CopyReading | None = Field(
        None,
        description="the copy in the request's merchant_language, for a merchant who cannot "
        "read the copy's language; null when back_translate is false",
    )
    ungrounded: list[Ungrounded] = Field(
        default_factory=list,
        description="facts the copy stated that no product fact gives, after one retry told of "
        "them: each removed with its line, or kept and listed for review",
    )


class CopywritingResult(BaseModel):
    """The response of POST /v1/copywriting and the result of "copywriting" jobs."""

    object: Literal["copywriting"] = "copywriting"
    model: str
    preset: str
    tone: str
    copies: list[LanguageCopy]
    warnings: list[LanguageWarning] = Field(
        default_factory=list,
        description="languages the chat model is not rated good in (weak, unrated, or unusable "
        "and allowed), with the measured figure",
    )


GENERATION_SCHEMA: dict[str, Any] = ProductCopy.model_json_schema()
RESULT_SCHEMA: dict[str, Any] = CopywritingResult.model_json_schema()


# --- the request ----------------------------------------------------------------------------
Fact = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]


class ProductFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Fact
    category: Fact | None = None
    brand: Fact | None = None
    sku: Fact | None = None
    materials: list[Fact] = Field(default_factory=list, max_length=20)
    sizes: list[Fact] = Field(default_factory=list, max_length=40)
    colours: list[Fact] = Field(
        default_factory=list, max_length=40, validation_alias=AliasChoices("colours", "colors")
    )
    price: Fact | None = Field(None, description='with its currency, e.g. "USD 12.99"')
    moq: int | Fact | None = Field(None, description="minimum order quantity")
    keywords: list[Fact] = Field(default_factory=list, max_length=40)
    features: list[Annotated[str, StringConstraints(max_length=400)]] = Field(
        default_factory=list, max_length=20
    )
    transcript: str | None = Field(None, max_length=20000, description="product video transcript")

    def as_lines(self) -> list[str]:
        facts = [f"Product name: {self.name}"]
        for label, value in (
            ("Brand", self.brand),
            ("Category", self.category),
            ("SKU", self.sku),
            ("Price", self.price),
            ("Minimum order quantity (MOQ)", self.moq),
        ):
            if value is not None:
                facts.append(f"{label}: {value}")
        for label, values in (
            ("Materials", self.materials),
            ("Sizes", self.sizes),
            ("Colours", self.colours),
            ("Features", self.features),
            ("Keywords", self.keywords),
        ):
            if values:
                facts.append(f"{label}: {', '.join(values)}")
        return facts


class CopywritingInput(BaseModel):
    """The body of POST /v1/copywriting and the input of "copywriting" jobs."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    product: ProductFacts
    target_languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], max_length=64)
    preset: str = Field(
        "marketplace_listing",
        description="a preset of configs/presets.yaml",
        json_schema_extra=lambda schema: schema.update(enum=list(load_presets().presets)),
    )
    tone: str | None = Field(None, max_length=200, description="a named tone or free text")
    max_attempts: int = Field(3, ge=1, le=6)
    max_tokens: int | None = Field(
        None, ge=16, le=8192, description="per language and attempt (default: from the preset)"
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    seed: int | None = 0
    allow_unusable_languages: AllowUnusable = False
    merchant_language: LanguageCode = Field(
        "zh", description="the language each copy is back-translated into"
    )
    back_translate: bool = Field(
        True,
        description="give each copy's back_translation; false saves one generate call per "
        "line and language other than merchant_language",
    )

    @field_validator("target_languages", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        load_presets().preset(value)
        return value

    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.target_languages)) or ["en"]
