"""Product copy per target language (title, selling points, description, short video script)
as JSON that always validates against the published schema, or a clear failure.

With an engine that offers guided decoding the schema constrains generation; otherwise the
answer is parsed, repaired (common small-model slips) and validated, and the model is asked
again, naming the errors, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from models.chat.base import ChatBackend
from pipelines.coverage import LanguageWarning
from pipelines.errors import OutputRejected
from pipelines.guardrails import protected_tokens
from pipelines.languages import Language, LanguageCode, load_languages, script_units
from pipelines.llm import chat_answer
from pipelines.presets import ChannelPreset, load_presets
from pipelines.quality import (
    degeneration_problems,
    language_problems,
    lines_problems,
    unique_lines,
)
from pipelines.tasks import run_all

MAX_POINTS = 8
MAX_SCRIPT_LINES = 12
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


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


class LanguageCopy(ProductCopy):
    language: str


class CopywritingResult(BaseModel):
    """The response of POST /v1/copywriting and the result of "copywriting" jobs."""

    object: Literal["copywriting"] = "copywriting"
    model: str
    preset: str
    tone: str
    copies: list[LanguageCopy]
    warnings: list[LanguageWarning] = Field(
        default_factory=list, description="languages the chat model is rated weak in"
    )


GENERATION_SCHEMA: dict[str, Any] = ProductCopy.model_json_schema()
JSON_PREFILL = '{"title": "'
RESULT_SCHEMA: dict[str, Any] = CopywritingResult.model_json_schema()


# --- the request ----------------------------------------------------------------------------
Fact = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


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
    preset: str = Field("marketplace_listing", description="a preset of configs/presets.yaml")
    tone: str | None = Field(None, max_length=200, description="a named tone or free text")
    max_attempts: int = Field(3, ge=1, le=6)
    max_tokens: int | None = Field(
        None, ge=16, le=8192, description="per language and attempt (default: from the preset)"
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    seed: int | None = 0

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


# --- parsing and repair ---------------------------------------------------------------------
_KEY_ALIASES = {
    "title": "title",
    "product_title": "title",
    "headline": "title",
    "selling_points": "selling_points",
    "sellingpoints": "selling_points",
    "bullet_points": "selling_points",
    "bullets": "selling_points",
    "key_features": "selling_points",
    "features": "selling_points",
    "description": "description",
    "product_description": "description",
    "video_script": "video_script",
    "videoscript": "video_script",
    "script": "video_script",
}


def extract_json(text: str) -> Any:
    """The first JSON object in `text`, tolerating prose or code fences around it (or a false
    start before it), raw line breaks in strings, smart quotes and trailing commas.
    Raises ValueError if there is none."""
    starts = [i for i, char in enumerate(text) if char == "{"][:20]
    if not starts:
        raise ValueError("the answer contains no JSON object")
    first_error: json.JSONDecodeError | None = None
    for start in starts:
        candidate = _balanced(text[start:])
        tidied = re.sub(r",\s*([}\]])", r"\1", candidate.replace("“", '"').replace("”", '"'))
        for attempt in (candidate, tidied):
            try:
                return json.loads(attempt, strict=False)
            except json.JSONDecodeError as exc:
                first_error = first_error or exc
    assert first_error is not None
    raise ValueError(f"the JSON is malformed: {first_error.msg} at character {first_error.pos}")


def _balanced(text: str) -> str:
    """Cut `text` after the brace that closes its first one (ignoring braces inside strings)."""
    depth, in_string, escaped = 0, False, False
    for i, char in enumerate(text):
        if in_string:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    return text


def _lines(value: Any) -> Any:
    if isinstance(value, str):
        return [
            re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line)
            for line in value.splitlines()
            if line.strip()
        ]
    return value


def repair(data: Any) -> Any:
    """Undo slips that keep a usable answer from validating: other key names, a list written as
    one string, script lines written as plain strings. Anything else is left to validation."""
    if not isinstance(data, dict):
        return data
    fixed: dict[str, Any] = {}
    for key, value in data.items():
        name = _KEY_ALIASES.get(re.sub(r"[\s-]+", "_", str(key)).lower().replace("__", "_"))
        if name is not None and name not in fixed:
            fixed[name] = value
    if "selling_points" in fixed:
        points = _lines(fixed["selling_points"])
        if isinstance(points, list):  # a few too many is still a good answer: keep the first
            points = [p for p in points if not isinstance(p, str) or p.strip()][:MAX_POINTS]
        fixed["selling_points"] = points
    script = _lines(fixed.get("video_script"))
    if isinstance(script, list):
        fixed["video_script"] = [
            {"visual": "", "voiceover": line} if isinstance(line, str) else line
            for line in script[:MAX_SCRIPT_LINES]
        ]
    return fixed


def _amount(price: str) -> str:
    return "".join(re.findall(r"\d+(?:[.,]\d+)*", price))


def without_repeats(copy: ProductCopy) -> ProductCopy:
    """The copy with later repeats of a selling point or a voice-over line dropped, where enough
    remain: a small model often restates its first point last (the checks still refuse a loop)."""
    points = unique_lines(copy.selling_points)
    script = unique_lines(copy.video_script, lambda line: line.voiceover)
    return copy.model_copy(
        update={
            "selling_points": points if len(points) >= 3 else copy.selling_points,
            "video_script": script or copy.video_script,
        }
    )


def copy_problems(copy: ProductCopy, facts: ProductFacts, language: Language) -> list[str]:
    """Checks beyond the schema: written in the target language, no loop or repeated line, no
    invented price."""
    problems = []
    text = " ".join([copy.title, *copy.selling_points, copy.description])
    if sum(script_units(text).values()) >= 3:
        problems.extend(language_problems(text, language, min_share=0.4))
    for field, value in (("title", copy.title), ("description", copy.description)):
        problems.extend(f"{field}: {p}" for p in degeneration_problems(value))
    for field, lines in (
        ("selling_points", copy.selling_points),
        ("video_script", [line.voiceover for line in copy.video_script]),
    ):
        problems.extend(f"{field}: {p}" for p in lines_problems(lines))
    # "$12.99" for a price given as "USD 12.99" is fine: the amounts are compared
    allowed = {_amount(t.text) for t in protected_tokens(facts.price or "")}
    invented = {t.text for t in protected_tokens(text) if t.kind == "price"}
    invented = {price for price in invented if _amount(price) not in allowed}
    if invented:
        problems.append(
            f"mentions prices not in the facts: {', '.join(sorted(invented))}"
            + (f" (the price is {facts.price})" if facts.price else " (give no price)")
        )
    return problems


def answer_budget(preset: ChannelPreset) -> int:
    """Tokens a complete answer for `preset` may need (scripts other than Latin need more)."""
    words = preset.description_words + 25 * preset.selling_points + 3 * preset.script_seconds
    return min(4 * words + 200, 4096)


def _error_summary(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error['loc']) or 'object'}: {error['msg']}"
        for error in exc.errors()[:6]
    ]


# --- the pipeline ---------------------------------------------------------------------------
CopyCallback = Callable[[LanguageCopy], Awaitable[None]]


class Copywriter:
    def __init__(
        self,
        backend: ChatBackend,
        model_name: str,
        *,
        max_parallel: int = 8,
        reasoning: bool = False,
    ) -> None:
        self.backend = backend
        self.model_name = model_name
        # a reasoning model must think first; anything else gets its answer started as JSON
        self.prefill = "" if reasoning or backend.supports_json_schema else JSON_PREFILL
        self._slots = asyncio.Semaphore(max_parallel)
        self._languages = load_languages()

    async def write(
        self,
        request: CopywritingInput,
        *,
        done: Sequence[LanguageCopy] = (),
        on_copy: CopyCallback | None = None,
    ) -> CopywritingResult:
        """Copy for every target language, concurrently; `done` ones (checkpoint) are kept."""
        book = load_presets()
        preset = book.preset(request.preset)
        tone = book.tone(request.tone or preset.tone)
        copies = {copy.language: copy for copy in done}

        async def one(code: str) -> None:
            copy = await self._write_language(request, preset, tone, self._languages.get(code))
            copies[code] = copy
            if on_copy is not None:
                await on_copy(copy)

        await run_all(one(code) for code in request.targets() if code not in copies)
        return CopywritingResult(
            model=self.model_name,
            preset=request.preset,
            tone=tone,
            copies=[copies[code] for code in request.targets()],
        )

    async def _write_language(
        self, request: CopywritingInput, preset: ChannelPreset, tone: str, language: Language
    ) -> LanguageCopy:
        guided = self.backend.supports_json_schema
        problems: list[str] = []
        for attempt in range(request.max_attempts):
            messages = self._messages(request.product, preset, tone, language, problems)
            async with self._slots:
                answer = await chat_answer(
                    self.backend,
                    messages,
                    max_tokens=request.max_tokens or answer_budget(preset),
                    temperature=request.temperature,
                    seed=None if request.seed is None else request.seed + attempt,
                    json_schema=GENERATION_SCHEMA if guided else None,
                    prefill=self.prefill,
                )
            try:
                copy = ProductCopy.model_validate(repair(extract_json(answer.text)))
            except ValueError as exc:  # ValidationError is a ValueError too
                problems = _error_summary(exc) if isinstance(exc, ValidationError) else [str(exc)]
                if answer.finish_reason == "length":
                    problems.append("the answer was cut off at the token limit: write less")
                continue
            copy = without_repeats(copy)
            problems = copy_problems(copy, request.product, language)
            if not problems:
                return LanguageCopy(language=language.code, **copy.model_dump())
        raise OutputRejected(
            f"The copy in {language.name} failed validation (copywriting schema and checks) "
            f"on all {request.max_attempts} attempts; last problems: {'; '.join(problems)}",
            param="product",
            code="copy_validation_failed",
            details=[{"language": language.code, "problems": problems}],
        )

    @staticmethod
    def _messages(
        facts: ProductFacts,
        preset: ChannelPreset,
        tone: str,
        language: Language,
        problems: Sequence[str],
    ) -> list[dict[str, str]]:
        shape = (
            '{"title": "...", "selling_points": ["...", "..."], "description": "...", '
            '"video_script": [{"visual": "...", "voiceover": "..."}]}'
        )
        system = [
            f"You are an e-commerce copywriter. Channel: {preset.label} ({preset.description}).",
            f"Write everything in {language.name} ({language.native}). Tone: {tone}.",
            preset.guidance,
            f"The title has at most {preset.title_max_chars} characters; write "
            f"{preset.selling_points} selling points, a description of about "
            f"{preset.description_words} words, and a video script of about "
            f"{preset.script_seconds} seconds as 3 to 6 lines.",
            "Use only the facts given. Do not invent prices, numbers or certifications; keep "
            "the brand, product name, SKU and price exactly as given.",
            f"Reply with one JSON object only, no other text, shaped like: {shape}",
        ]
        if problems:
            system.append(
                "Your previous reply was rejected: " + "; ".join(problems) + ". Fix that."
            )
        user = "\n".join(facts.as_lines())
        if facts.transcript:
            user += f"\n\nTranscript of the product video:\n{facts.transcript}"
        return [{"role": "system", "content": "\n".join(system)}, {"role": "user", "content": user}]
