"""Translation of merchant texts into many languages, with glossary and number guardrails.

Every text is split into segments that fit the model's context; every (text, target, segment)
is one generate call, all of them concurrent (the engine batches them). Each translated segment
is checked (numbers, prices, SKUs, URLs, sizes, glossary terms, target script, degenerate
repetition) and retried a bounded number of times with the problems named; a segment that
never passes is reported, and its text's translation is withheld, never returned broken.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.chat.base import ChatBackend
from pipelines.coverage import LanguageWarning
from pipelines.errors import InvalidInput, OutputRejected
from pipelines.glossary import GlossaryEntry, applicable_entries, glossary_problems
from pipelines.guardrails import describe_missing, missing_tokens, protected_tokens
from pipelines.languages import (
    CHARACTER_SCRIPTS,
    ISO_SCRIPTS,
    Language,
    LanguageCode,
    char_script,
    detect_language,
    load_languages,
    script_share,
    script_units,
)
from pipelines.llm import chat_answer, render
from pipelines.quality import degeneration_problems, english_instead, new_problems
from pipelines.segments import Segment, join_segments, split_text
from pipelines.tasks import run_all

NO_SPACE_SCRIPTS = {"Hans", "Hant", "Jpan", "Mymr", "Khmr"}
MAX_SEGMENT_TOKENS = 384
MAX_TEXTS = 256


# --- request and result ---------------------------------------------------------------------
class TranslationInput(BaseModel):
    """What to translate; the body of POST /v1/translations and the input of "translation" jobs."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="chat model (default: the first configured)")
    text: str | list[str] = Field(description="one text or a batch of texts")
    source_language: str | None = Field(None, description='BCP-47 code, or null/"auto" to detect')
    target_languages: list[LanguageCode] = Field(min_length=1, max_length=64)
    glossary: str | None = Field(None, description="name of one of your stored glossaries")
    glossary_entries: list[GlossaryEntry] = Field(default_factory=list, max_length=2000)
    max_attempts: int = Field(3, ge=1, le=6, description="per segment, before it is reported")
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    seed: int | None = 0
    on_failure: Literal["error", "report"] = Field(
        "error",
        description="error: fail the request if any segment fails its checks; report: return "
        "the translations that passed and a failure report (text null) for the others",
    )

    @field_validator("target_languages", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("source_language")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "auto"):
            return None
        catalogue = load_languages()
        language = catalogue.find(value)
        if language is None:
            raise ValueError(
                f"Unsupported language '{value}'. Supported: auto, {', '.join(catalogue.codes())}"
            )
        return language.code

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


class TranslationResult(BaseModel):
    object: Literal["translation"] = "translation"
    model: str
    translations: list[TranslationItem]
    failed: int = 0
    warnings: list[LanguageWarning] = Field(
        default_factory=list, description="target languages the chat model is rated weak in"
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


# --- checks ---------------------------------------------------------------------------------
def translation_problems(
    source: str,
    output: str,
    target: Language,
    glossary: Sequence[GlossaryEntry],
    finish_reason: str | None = None,
    source_language: Language | None = None,
) -> list[str]:
    """Everything wrong with `output` as a translation of `source` (empty list: it passes)."""
    if not output.strip():
        return ["empty translation"]
    problems = []
    if finish_reason == "length":
        problems.append("cut off at the token limit")
    # a translation is rarely over 3x its source (6x from scripts written without spaces)
    dense = script_units(source).keys() & CHARACTER_SCRIPTS
    if len(output) > len(source) * (6 if dense else 3) + 80:
        problems.append("far longer than the source: write the translation only, no notes")
    if (
        source_language is not None
        and source_language.code != target.code
        and len(output.split()) >= 6
        and detect_language(output) == source_language.code
    ):
        problems.append(f"still in {source_language.name}, not translated")
    else:
        if source_language is None or source_language.code != "en":
            problems.extend(english_instead(output, target))  # a small model's favourite slip
        if source_language is None or source_language.code != target.code:
            problems.extend(copied_source(source, output, glossary))
    # a loop or a repeated sentence, unless the source repeats itself the same way
    problems.extend(new_problems(degeneration_problems(output), degeneration_problems(source)))
    missing = missing_tokens(source, output)
    if missing:
        problems.append(describe_missing(missing))
    problems.extend(glossary_problems(glossary, source, output, target))
    # judge the script on what is left once brand names, SKUs and numbers are set aside
    entries = applicable_entries(glossary, source)
    kept = [token.text for token in protected_tokens(source)]
    rest = _set_aside(output, [entry.rendering(target) for entry in entries] + kept)
    share, units = script_share(rest, target)
    source_share, _ = script_share(source, target)
    if units >= 2 and share < 0.4 and target.script in ISO_SCRIPTS and source_share < 0.9:
        problems.append(f"not written in {target.name} ({target.script} script)")
    source_rest = _set_aside(source, [entry.term for entry in entries] + kept)
    words_in_source = sum(script_units(source_rest).values())
    if words_in_source >= 3 and sum(script_units(rest).values()) < max(1, words_in_source // 4):
        # "24, 12" for "Keeps drinks cold for 24 hours, hot for 12": the numbers copied, no words
        problems.append("only the numbers and codes were kept: translate the words too")
    problems.extend(left_untranslated(rest, target))
    return problems


def _set_aside(text: str, kept: Sequence[str]) -> str:
    """`text` less the strings that stay as they are in any language (brands, numbers, SKUs)."""
    for item in kept:
        text = text.replace(item, " ")
    return text


def left_untranslated(output: str, target: Language) -> list[str]:
    """Characters of a script the target does not use, left in by a model that could not translate
    them ("Cold storage for 24 hours, 保温 for 12 hours"): Han, kana and Hangul only, where no
    brand or code can explain them (those were taken out of `output` already)."""
    wanted = ISO_SCRIPTS.get(target.script, set())
    foreign = [
        char
        for char in output
        if (script := char_script(char)) in _CJK_SCRIPTS and script not in wanted
    ]
    if not foreign:
        return []
    return [f"left untranslated: '{''.join(foreign)[:20]}'"]


_CJK_SCRIPTS = {"Han", "Hiragana", "Katakana", "Hangul"}


_WORDS = re.compile(r"[^\W\d_]{3,}")


def copied_source(source: str, output: str, glossary: Sequence[GlossaryEntry]) -> list[str]:
    """The source handed back as its own translation (a weak model's way out in German, Thai...):
    its words, brand names aside, make up almost all of the output's words and vice versa."""
    kept = {word.casefold() for entry in glossary for word in _WORDS.findall(entry.term)}
    theirs = [w.casefold() for w in _WORDS.findall(source) if w.casefold() not in kept]
    ours = [w.casefold() for w in _WORDS.findall(output) if w.casefold() not in kept]
    if len(theirs) < 3 or not ours:
        return []
    their_words, our_words = set(theirs), set(ours)
    shared_of_source = sum(w in our_words for w in theirs) / len(theirs)
    shared_of_output = sum(w in their_words for w in ours) / len(ours)
    if shared_of_source >= 0.8 and shared_of_output >= 0.8:
        return ["the source text copied, not translated"]
    return []


# --- the pipeline ---------------------------------------------------------------------------
_LABEL = re.compile(r"^\s*(?:translation|translated text|译文|翻译)\s*[:：]\s*", re.IGNORECASE)


def clean_output(source: str, output: str) -> str:
    """Drop wrapping a chat model adds around a translation: labels, quotes, code fences."""
    text = _LABEL.sub("", output.strip()).strip()
    if text.startswith("```") and text.endswith("```") and len(text) > 6:
        text = text.strip("`").strip()
    for left, right in ('""', "''", "“”", "「」", "«»"):
        if (
            len(text) > 2
            and text.startswith(left)
            and text.endswith(right)
            and not source.strip().startswith(left)
        ):
            text = text[1:-1].strip()
    return text


@dataclass(frozen=True)
class _SegmentOutcome:
    text: str | None
    attempts: int
    failure: SegmentFailure | None


def _expansion(target: Language) -> int:
    """How many times its source's tokens a translation may take: tokenizers trained mostly on
    Latin text spend several tokens per character of Burmese, Amharic, Thai..."""
    return 3 if target.script in ("Latn", "Cyrl", "Grek", "Hans", "Hant") else 6


ItemCallback = Callable[[TranslationItem], Awaitable[None]]


class Translator:
    """Translate with one loaded chat backend."""

    def __init__(
        self,
        backend: ChatBackend,
        model_name: str,
        *,
        max_parallel: int = 8,
        max_segment_tokens: int = MAX_SEGMENT_TOKENS,
    ) -> None:
        self.backend = backend
        self.model_name = model_name
        self.max_segment_tokens = max_segment_tokens
        self._slots = asyncio.Semaphore(max_parallel)
        self._languages = load_languages()

    async def translate(
        self,
        request: TranslationInput,
        glossary: Sequence[GlossaryEntry] = (),
        *,
        done: Sequence[TranslationItem] = (),
        on_item: ItemCallback | None = None,
    ) -> TranslationResult:
        """Translate every text into every target; `done` items (from a checkpoint) are kept,
        `on_item` is awaited as each further (text, target) pair completes."""
        entries = [*glossary, *request.glossary_entries]
        texts = request.texts()
        finished = {(item.index, item.target_language): item for item in done}
        sources = [request.source_language or detect_language(text) for text in texts]
        jobs = [
            (i, target)
            for i in range(len(texts))
            for target in request.targets()
            if (i, target) not in finished
        ]

        async def one(i: int, target: str) -> None:
            item = await self._translate_text(
                request, i, texts[i], sources[i], self._languages.get(target), entries
            )
            finished[(i, target)] = item
            if on_item is not None:
                await on_item(item)

        await run_all(one(i, target) for i, target in jobs)
        items = [finished[(i, t)] for i in range(len(texts)) for t in request.targets()]
        return TranslationResult(
            model=self.model_name,
            translations=items,
            failed=sum(1 for item in items if item.status == "failed"),
        )

    async def _translate_text(
        self,
        request: TranslationInput,
        index: int,
        text: str,
        source_code: str | None,
        target: Language,
        glossary: Sequence[GlossaryEntry],
    ) -> TranslationItem:
        if source_code == target.code and not [
            e for e in glossary if target.code in e.translations
        ]:
            return TranslationItem(
                index=index,
                source_language=source_code,
                target_language=target.code,
                status="ok",
                text=text.strip(),
                segments=1,
                attempts=0,
            )
        source = self._languages.find(source_code) if source_code else None
        segments = split_text(text, self._segment_budget(source, target, glossary), self._count)
        outcomes = await asyncio.gather(
            *(
                self._translate_segment(request, n, segment, source, target, glossary)
                for n, segment in enumerate(segments)
            )
        )
        failures = [o.failure for o in outcomes if o.failure is not None]
        joined = None
        if not failures:
            joined = join_segments(
                [o.text or "" for o in outcomes],
                [s.separator for s in segments],
                target.script in NO_SPACE_SCRIPTS,
            )
        return TranslationItem(
            index=index,
            source_language=source_code,
            target_language=target.code,
            status="failed" if failures else "ok",
            text=joined,
            segments=len(segments),
            attempts=sum(o.attempts for o in outcomes),
            failures=failures,
        )

    def _count(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def _segment_budget(
        self, source: Language | None, target: Language, glossary: Sequence[GlossaryEntry]
    ) -> int:
        """Source tokens per segment: the prompt, the segment and its (longer) translation must
        all fit in the context together."""
        overhead = self.backend.count_tokens(
            render(self.backend, self._messages("", source, target, glossary, [], []))
        )
        budget = (self.backend.context_length - overhead - 64) // (1 + _expansion(target))
        if budget < 8:
            raise InvalidInput(
                f"The model's context ({self.backend.context_length} tokens) is too small for "
                "translation with this glossary",
                code="context_length_exceeded",
            )
        return min(budget, self.max_segment_tokens)

    async def _translate_segment(
        self,
        request: TranslationInput,
        number: int,
        segment: Segment,
        source: Language | None,
        target: Language,
        glossary: Sequence[GlossaryEntry],
    ) -> _SegmentOutcome:
        entries = applicable_entries(glossary, segment.text)
        keep = [t.text for t in protected_tokens(segment.text)]
        problems: list[str] = []
        output: str | None = None
        for attempt in range(request.max_attempts):
            messages = self._messages(segment.text, source, target, entries, keep, problems)
            prompt_tokens = self.backend.count_tokens(render(self.backend, messages))
            async with self._slots:
                answer = await chat_answer(
                    self.backend,
                    messages,
                    max_tokens=min(
                        _expansion(target) * self._count(segment.text) + 64,
                        self.backend.context_length - prompt_tokens,
                    ),
                    # a retry must not repeat the same greedy mistake
                    temperature=request.temperature
                    if attempt == 0
                    else max(request.temperature, 0.7),
                    seed=None if request.seed is None else request.seed + attempt,
                )
            output = clean_output(segment.text, answer.text)
            problems = translation_problems(
                segment.text, output, target, entries, answer.finish_reason, source
            )
            if not problems:
                return _SegmentOutcome(output, attempt + 1, None)
        failure = SegmentFailure(
            segment_index=number,
            source=segment.text,
            output=output,
            problems=problems,
            attempts=request.max_attempts,
        )
        return _SegmentOutcome(None, request.max_attempts, failure)

    @staticmethod
    def _messages(
        text: str,
        source: Language | None,
        target: Language,
        glossary: Sequence[GlossaryEntry],
        keep: Sequence[str],
        problems: Sequence[str],
    ) -> list[dict[str, str]]:
        origin = f"from {source.name} " if source else ""
        lines = [
            "You are a professional translator of cross-border e-commerce product listings.",
            f"Translate the user's text {origin}into {target.name} ({target.native}).",
            "Reply with the translation only: no notes, no quotes, no explanations.",
        ]
        if keep:
            lines.append(
                "Copy these exactly as written, character for character: "
                + ", ".join(f"'{k}'" for k in dict.fromkeys(keep))
                + "."
            )
        for entry in glossary:
            wanted = entry.rendering(target)
            if wanted == entry.term:
                lines.append(f"Keep '{entry.term}' unchanged (a brand or product name).")
            else:
                lines.append(f"Always translate '{entry.term}' as '{wanted}'.")
        if problems:
            lines.append(
                "Your previous translation was rejected: " + "; ".join(problems) + ". Fix that."
            )
        return [{"role": "system", "content": "\n".join(lines)}, {"role": "user", "content": text}]
