"""Judging a model's translation of one segment: the wrapping a chat model adds is dropped, then
every problem a merchant would object to is named (numbers, prices, SKUs, URLs, sizes, glossary
terms, spec claims the source never makes, target script, untranslated or copied text,
degenerate repetition)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipelines.languages import (
    CHARACTER_SCRIPTS,
    ISO_SCRIPTS,
    Language,
    char_script,
    detect_language,
    script_share,
    script_units,
)
from pipelines.quality import degeneration_problems, english_instead, new_problems
from pipelines.text.glossary import GlossaryEntry, applicable_entries, glossary_problems
from pipelines.text.grounding import describe_ungrounded, ungrounded_facts
from pipelines.text.guardrails import (
    describe_missing,
    invented_numbers,
    missing_tokens,
    without_tokens,
)

CLAIM_PROBLEM = "states "  # how a spec claim the source never makes is worded


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
    invented = invented_numbers(source, output)
    if invented:
        added = ", ".join(t.describe() for t in invented)
        problems.append(f"added {added}, which the source does not state")
    renderings = [text for entry in glossary for text in entry.translations.values()]
    claims = [
        fact
        for fact in ungrounded_facts(output, [source, *(e.term for e in glossary), *renderings])
        if fact.kind == "claim"
    ]
    if claims:  # a material, certification or feature the source never names
        problems.append(
            f"{CLAIM_PROBLEM}{describe_ungrounded(claims)}, which the source does not: translate "
            "only what it says"
        )
    problems.extend(glossary_problems(glossary, source, output, target))
    # judge the script on what is left once brand names, SKUs and numbers are set aside
    entries = applicable_entries(glossary, source)
    rest = _set_aside(output, [entry.rendering(target) for entry in entries])
    share, units = script_share(rest, target)
    source_share, _ = script_share(source, target)
    if units >= 2 and share < 0.4 and target.script in ISO_SCRIPTS and source_share < 0.9:
        problems.append(f"not written in {target.name} ({target.script} script)")
    source_rest = _set_aside(source, [entry.term for entry in entries])
    words_in_source = sum(script_units(source_rest).values())
    if words_in_source >= 3 and sum(script_units(rest).values()) < max(1, words_in_source // 4):
        # "24, 12" for "Keeps drinks cold for 24 hours, hot for 12": the numbers copied, no words
        problems.append("only the numbers and codes were kept: translate the words too")
    problems.extend(left_untranslated(rest, target))
    return problems


def _set_aside(text: str, kept: Sequence[str]) -> str:
    """`text` less what stays as it is in any language: the glossary's brand names, and its own
    codes, URLs, product names and numbers with their units ("500 ml" is not English words)."""
    for item in kept:
        text = text.replace(item, " ")
    return without_tokens(text)


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
