"""Product copy per target language (title, selling points, description, short video script)
as JSON that always validates against the published schema, or a clear failure.

With an engine that offers guided decoding the schema constrains generation; otherwise the
answer is parsed, repaired (common small-model slips) and validated, and the model is asked
again, naming the errors, a bounded number of times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import ValidationError

from models.chat.base import ChatBackend
from pipelines.errors import OutputRejected
from pipelines.languages import Language, load_languages
from pipelines.llm import UNFINISHED_THINKING, chat_answer
from pipelines.quality import WRONG_LANGUAGE
from pipelines.tasks import run_all
from pipelines.text import back_translation
from pipelines.text.copywriting_checks import (
    copy_problems,
    extract_json,
    grounded_copy,
    repair,
    ungrounded_copy,
    without_repeats,
)
from pipelines.text.copywriting_schema import (
    GENERATION_SCHEMA,
    CopyReading,
    CopywritingInput,
    CopywritingResult,
    LanguageCopy,
    ProductCopy,
    ProductFacts,
)
from pipelines.text.presets import ChannelPreset, load_presets
from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput

T = TypeVar("T")
JSON_PREFILL = '{"title": "'


def answer_budget(preset: ChannelPreset) -> int:
    """Tokens a complete answer for `preset` may need (scripts other than Latin need more)."""
    words = preset.description_words + 25 * preset.selling_points + 3 * preset.script_seconds
    return min(4 * words + 200, 4096)


def _error_summary(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error['loc']) or 'object'}: {error['msg']}"
        for error in exc.errors()[:6]
    ]


def _copy_lines(copy: ProductCopy) -> list[str]:
    """The copy's lines in one order: title, selling points, description, voice-overs."""
    voiceovers = [line.voiceover for line in copy.video_script]
    return [copy.title, *copy.selling_points, copy.description, *voiceovers]


def _fields(copy: ProductCopy, lines: Sequence[T]) -> tuple[T, list[T], T, list[T]]:
    """`lines`, one per line of `copy` in _copy_lines' order, as title, selling points,
    description and voice-overs."""
    points = len(copy.selling_points)
    return lines[0], list(lines[1 : 1 + points]), lines[1 + points], list(lines[2 + points :])


# --- the pipeline ---------------------------------------------------------------------------
CopyCallback = Callable[[LanguageCopy], Awaitable[None]]


class Copywriter:
    def __init__(
        self,
        backend: ChatBackend,
        model_name: str,
        *,
        max_parallel: int = 8,
    ) -> None:
        self.backend = backend
        self.model_name = model_name
        # an engine without JSON schemas gets its answer started as JSON (a reasoning model
        # gets neither: chat_answer lets it think first)
        self.prefill = "" if backend.supports_json_schema else JSON_PREFILL
        self._slots = asyncio.Semaphore(max_parallel)
        self._max_parallel = max_parallel
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
            if request.back_translate:
                copy = await self._read_back(copy, request)
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

    async def _read_back(self, copy: LanguageCopy, request: CopywritingInput) -> LanguageCopy:
        """`copy` with what each of its lines says in the merchant's language."""
        readings = await back_translation.back_translate(
            Translator(self.backend, self.model_name, max_parallel=self._max_parallel),
            _copy_lines(copy),
            copy.language,
            request.merchant_language,
            request.seed,
        )
        title, points, description, script = _fields(copy, readings)
        reading = CopyReading(
            title=title, selling_points=points, description=description, video_script=script
        )
        return copy.model_copy(update={"back_translation": reading})

    async def _translated(
        self, copy: ProductCopy, language: Language, request: CopywritingInput
    ) -> ProductCopy | None:
        """`copy` translated into `language` line by line, with the translation checks (numbers,
        prices and codes kept); None if a line fails them or the result fails the copy's."""
        result = await Translator(
            self.backend, self.model_name, max_parallel=self._max_parallel
        ).translate(
            TranslationInput(
                text=_copy_lines(copy),
                target_languages=[language.code],
                seed=request.seed,
                on_failure="report",
                back_translate=False,
            )
        )
        lines = [item.text for item in result.translations]
        if any(line is None for line in lines):
            return None
        title, points, description, script = _fields(copy, [str(line) for line in lines])
        try:
            translated = ProductCopy(
                title=title,
                selling_points=points,
                description=description,
                video_script=[
                    line.model_copy(update={"voiceover": text})
                    for line, text in zip(copy.video_script, script, strict=True)
                ],
            )
        except ValueError:  # a line too long for the schema
            return None
        return None if copy_problems(translated, request.product, language) else translated

    async def _write_language(
        self, request: CopywritingInput, preset: ChannelPreset, tone: str, language: Language
    ) -> LanguageCopy:
        guided = self.backend.supports_json_schema
        problems: list[str] = []
        grounding_retried = False
        stray: ProductCopy | None = None
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
            if answer.thinking_unfinished:  # no answer came: its thinking is never one
                problems = [UNFINISHED_THINKING]
                continue
            try:
                copy = ProductCopy.model_validate(repair(extract_json(answer.text)))
            except ValueError as exc:  # ValidationError is a ValueError too
                problems = _error_summary(exc) if isinstance(exc, ValidationError) else [str(exc)]
                if answer.finish_reason == "length":
                    problems.append("the answer was cut off at the token limit: write less")
                continue
            copy = without_repeats(copy)
            problems = copy_problems(copy, request.product, language)
            if problems and all(p.startswith(WRONG_LANGUAGE) for p in problems):
                stray = copy  # good copy, in another language (often the facts' own)
            if not problems and not grounding_retried and attempt + 1 < request.max_attempts:
                problems = ungrounded_copy(copy, request.product)  # one retry is told of them
                grounding_retried = bool(problems)
            if not problems:  # what is still made up after that goes, or is listed
                copy, ungrounded = grounded_copy(copy, request.product, language)
                return LanguageCopy(
                    language=language.code, ungrounded=ungrounded, **copy.model_dump()
                )
        translated = await self._translated(stray, language, request) if stray else None
        if translated is not None:
            copy, ungrounded = grounded_copy(translated, request.product, language)
            return LanguageCopy(
                language=language.code,
                ungrounded=ungrounded,
                written="translated",
                **copy.model_dump(),
            )
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
