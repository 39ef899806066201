"""The voice-over script: speaking-rate budgets, time slots, and the LLM that writes and shortens lines."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from models.chat.base import ChatBackend
from models.tts.base import speakable
from pipelines.languages import Language, script_share
from pipelines.llm import UNFINISHED_THINKING, ChatAnswer, chat_answer
from pipelines.quality import (
    degeneration_problems,
    language_problems,
    lines_problems,
    unique_lines,
)
from pipelines.text.grounding import describe_ungrounded, ungrounded_facts
from pipelines.video.spoken import required_facts, spoken_form

log = logging.getLogger(__name__)

# Units spoken per second at a natural pace: characters for zh/ja/ko, words elsewhere.
CHARACTER_RATES = {"zh": 4.5, "zh-Hant": 4.5, "ja": 7.0, "ko": 5.0}
WORD_RATE = 2.5
LEAD_IN_S = 0.4  # first line starts after this, so the clip opens before the voice does
TAIL_S = 0.3  # and the last one ends this much before the clip does
GAP_S = 0.3  # breath between lines
LINE_S = 3.5  # a comfortable line length
MIN_SCRIPT_SHARE = 0.6  # share of the letters that must be in the target language's script


@dataclass(frozen=True)
class ScriptLine:
    """A timed line of the script: speak `text` from `start`, ideally until `end`."""

    start: float
    end: float
    text: str
    budget: int  # most units (characters or words) that fit at the language's speaking rate

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def counts_characters(language: Language) -> bool:
    return language.code in CHARACTER_RATES


def speaking_rate(language: Language) -> float:
    return CHARACTER_RATES.get(language.code, WORD_RATE)


def units(text: str, language: Language) -> int:
    """Length in the language's budget units: letters of a character script, or words."""
    if counts_characters(language):
        return sum(1 for char in text if char.isalnum())
    return len(text.split())


def plan_slots(
    duration_s: float, language: Language, count: int | None = None
) -> list[tuple[float, float, int]]:
    """`count` (default: one per LINE_S) evenly spaced (start, end, budget) slots, leaving a
    lead-in, gaps between lines and a tail."""
    usable = max(0.5, duration_s - LEAD_IN_S - TAIL_S)
    count = count or max(1, round(usable / LINE_S))
    span = usable / count
    slots = []
    for i in range(count):
        start = LEAD_IN_S + i * span
        end = start + (max(0.5, span - GAP_S) if count > 1 else usable)
        slots.append((round(start, 3), round(end, 3), budget(end - start, language)))
    return slots


def budget(seconds: float, language: Language) -> int:
    return max(1, int(seconds * speaking_rate(language)))


# --- talking to the LLM ---------------------------------------------------------------------
async def ask(
    backend: ChatBackend,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int,
    temperature: float,
    seed: int,
    json_schema: dict[str, Any] | None = None,
) -> ChatAnswer:
    """The answer; the JSON schema only goes to engines that can enforce it."""
    schema = json_schema if backend.supports_json_schema else None
    return await chat_answer(
        backend,
        messages,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        json_schema=schema,
    )


def _lines_schema(count: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "lines": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": ["lines"],
    }


_BROKEN = {"Cc", "Co", "Cs", "Cn"}  # control, private-use, surrogate, unassigned
# a small model sometimes answers a line with the limit it was given ("At most 8 words")
_INSTRUCTION = re.compile(
    r"\bat most \d+ (?:words|characters)\b|^line \d+\b|不超过\d+个?字|最多\d+个?字", re.IGNORECASE
)
_NUMBERING = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.):、]|line \d+:)\s*", re.IGNORECASE)


def parse_lines(answer: str) -> list[str] | None:
    """The lines of `{"lines": [...]}` (or a bare JSON list) inside an LLM answer; failing that,
    its non-empty text lines, numbering and quotes removed. None when there are none."""
    for match in re.finditer(r"[\[{]", answer):
        try:
            value, _ = json.JSONDecoder().raw_decode(answer[match.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            value = value.get("lines")
        if isinstance(value, list) and value:
            lines = [
                str(item.get("text", "")) if isinstance(item, dict) else str(item) for item in value
            ]
            lines = [" ".join(line.split()) for line in lines]
            return lines if all(lines) else None
    lines = []
    for raw in answer.splitlines():
        line = _NUMBERING.sub("", raw).strip().strip("\"'“”「」")
        if line and not line.endswith((":", "：")) and not line.startswith(("```", "{", "[")):
            lines.append(" ".join(line.split()))
    return lines or None


def check_lines(lines: list[str], language: Language, expected: int) -> str | None:
    """Why the LLM's lines cannot be used as a script, or None when they can."""
    if not 1 <= len(lines) <= 3 * expected:
        return f"{len(lines)} lines, expected {expected}"
    for line in lines:
        if any(char == "\ufffd" or unicodedata.category(char) in _BROKEN for char in line):
            return f"line {line[:40]!r} has broken characters"
        share, letters = script_share(line, language)
        if letters == 0 or share < MIN_SCRIPT_SHARE:
            return f"line {line[:40]!r} is not written in {language.name}"
    echoed = next((line for line in lines if _INSTRUCTION.search(line)), None)
    if echoed is not None:
        return f"the line {echoed[:40]!r} repeats the instructions instead of speaking"
    problems = lines_problems(lines) + language_problems(" ".join(lines), language)
    return "; ".join(problems) or None


@dataclass(frozen=True)
class ScriptRequest:
    keywords: tuple[str, ...]
    product_facts: str
    transcript: str
    duration_s: float


async def write_script(
    backend: ChatBackend,
    request: ScriptRequest,
    language: Language,
    *,
    attempts: int = 3,
    seed: int = 0,
) -> tuple[list[ScriptLine], dict[str, Any]]:
    """Timed lines for `language`; falls back to the keywords when the LLM never gives a usable
    script (degenerate, wrong language, wrong shape). Returns (lines, report) with report =
    {source: "llm" | "fallback", fallback: "keywords" (a fallback only), attempts, problems}."""
    slots = plan_slots(request.duration_s, language)
    unit = "characters" if counts_characters(language) else "words"
    budgets = [b for _, _, b in slots]
    limits = (
        f"each at most {budgets[0]} {unit}"
        if len(set(budgets)) == 1  # evenly planned slots: one rule, nothing to copy out
        else "\n".join(f"line {i + 1}: at most {b} {unit}" for i, b in enumerate(budgets))
    )
    facts = f"Product facts: {request.product_facts}\n" if request.product_facts else ""
    heard = (
        f"What the merchant says in the clip (context only): {request.transcript}\n"
        if request.transcript
        else ""
    )
    structured = backend.supports_json_schema
    answer_as = (
        'Answer as JSON: {"lines": ["first line", "second line"]}'
        if structured
        else "Answer with the lines only, one per line, without numbers."
    )
    messages = [
        {
            "role": "system",
            "content": "You write short, lively voice-over scripts for product videos of online "
            "shops.",
        },
        {
            "role": "user",
            "content": f"Write a voice-over in {language.name} for a {request.duration_s:.0f}-second "
            f"product video.\nKeywords: {', '.join(request.keywords)}\n{facts}{heard}"
            f"Write exactly {len(slots)} lines, each a short spoken sentence in {language.name}, "
            f"{limits}; each line says something different. State only what the keywords and "
            "facts say: no other numbers, materials, certifications or features.\n"
            f"{answer_as}",
        },
    ]
    problems: list[str] = []
    # ~2 tokens per CJK character or English word, plus the JSON or numbering around each line
    max_tokens = 16 + 6 * len(slots) + 2 * sum(b for _, _, b in slots)
    # a retry goes without the clip's words: a small model that packed all of them into one
    # line and repeated it does it again with them in view
    asked = messages[1]["content"].replace(heard, "")
    problem: str | None = None
    sources = [*request.keywords, request.product_facts, request.transcript]
    grounding_retried = False
    for attempt in range(attempts):
        if problem is not None:  # name what was wrong: a retry must not loop the same way
            rejected = f"\nYour previous answer was rejected: {_unquoted(problem)}. Fix that."
            messages[1] = {"role": "user", "content": asked + rejected}
        answer = await ask(
            backend,
            messages,
            max_tokens=max_tokens,
            temperature=0.3 + 0.3 * attempt,
            seed=seed + attempt,
            json_schema=_lines_schema(len(slots)),
        )
        lines = parse_lines(answer.text)
        if lines is not None and len(unique_lines(lines)) >= (len(slots) + 1) // 2:
            # a small model often closes by repeating its opening line: drop the repeat, and
            # give the remaining lines the clip's time (a loop still fails the checks below)
            lines = unique_lines(lines)
        problem = "no JSON lines in the answer" if lines is None else None
        if answer.thinking_unfinished:  # no answer came: its thinking is never one
            problem = UNFINISHED_THINKING
        problem = problem or check_lines(lines or [], language, len(slots))
        if problem is None and lines is not None:
            lines = lines[: len(slots)]  # a model that wrote more than asked: the first ones
            per_line = [ungrounded_facts(line, sources) for line in lines]
            invented = [fact for found in per_line for fact in found]
            if invented and not grounding_retried and attempt + 1 < attempts:
                grounding_retried = True  # one retry is told what it made up
                problem = (
                    f"{describe_ungrounded(invented)} in no keyword or product fact: state "
                    "only what the keywords and facts say"
                )
            else:  # what is still made up is never voiced: its line goes
                lines = [line for line, found in zip(lines, per_line, strict=True) if not found]
                if not lines:
                    problem = (
                        f"every line states what no keyword or fact gives: {invented[0].describe()}"
                    )
        if problem is None and lines:
            if len(lines) != len(slots):
                slots = plan_slots(request.duration_s, language, len(lines))
            script = [
                ScriptLine(s, e, text, b) for (s, e, b), text in zip(slots, lines, strict=True)
            ]
            return script, {
                "source": "llm",
                "attempts": attempt + 1,
                "problems": problems,
                "ungrounded": [
                    {"line": fact.line, "fact": fact.fact, "action": "dropped"} for fact in invented
                ],
            }
        problems.append(f"attempt {attempt + 1}: {problem}")
        log.info("script in %s, attempt %d unusable: %s", language.code, attempt + 1, problem)
    # labelled as what it is: the QA verdict of a dub voiced from it is at best "review"
    return fallback_script(request, language), {
        "source": "fallback",
        "fallback": "keywords",
        "attempts": attempts,
        "problems": problems,
    }


def _unquoted(problem: str) -> str:
    """The problem without the rejected text it quotes: shown its own line, a small model
    writes it again."""
    return re.sub(r"'[^']{12,}'", "one line", problem)


def fallback_script(request: ScriptRequest, language: Language) -> list[ScriptLine]:
    """A plain script from the merchant's own words, one slot per keyword group."""
    words = [k for k in request.keywords if k.strip()] or [request.product_facts or "New arrival"]
    count = min(len(plan_slots(request.duration_s, language)), len(words))
    slots = plan_slots(request.duration_s, language, count)
    groups = [words[i::count] for i in range(count)]
    sep = "，" if counts_characters(language) else ", "
    end = "。" if counts_characters(language) else "."
    return [
        ScriptLine(s, e, sep.join(group) + end, b)
        for (s, e, b), group in zip(slots, groups, strict=True)
    ]


async def shorten_line(
    backend: ChatBackend, text: str, language: Language, max_units: int, attempt: int
) -> str | None:
    """Ask the LLM for a shorter version of `text` (at most `max_units`); None if unusable, and
    None if it lost a price, MOQ or SKU of `text`: a fact is worth more than the time it takes."""
    unit = "characters" if counts_characters(language) else "words"
    messages = [
        {"role": "system", "content": "You shorten voice-over lines. Answer with the line only."},
        {
            "role": "user",
            "content": f"Shorten this {language.name} line to at most {max_units} {unit}, keeping "
            f"its meaning, its language and every price, number and code:\n{text}",
        },
    ]
    answer = await ask(
        backend, messages, max_tokens=8 + 2 * max_units, temperature=0.2 * attempt, seed=attempt
    )
    line = " ".join(answer.text.strip().strip("\"'“”「」").split())
    share, letters = script_share(line, language)
    if not line or letters == 0 or share < MIN_SCRIPT_SHARE or units(line, language) > max_units:
        return None
    if degeneration_problems(line):
        return None
    if ungrounded_facts(line, [text]):  # a shorter line says less, never something new
        return None
    said = spoken_form(line, language.code)
    kept = all(fact.heard_in(said) for fact in required_facts(text, language.code))
    return line if kept else None


def clean_for_tts(text: str) -> str:
    """Markup an LLM may leave in a line (asterisks, hashes, brackets) that a voice would read out,
    and control characters (a merchant's keyword may hold a NUL, which Piper refuses)."""
    return " ".join(re.sub(r"[*#_`~<>\[\]{}|]", " ", speakable(text)).split())
