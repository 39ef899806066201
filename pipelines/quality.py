"""Quality checks of generated text: degenerate repetition, empty or repeated lines, wrong language.

Small chat models fail in a few recognisable ways: they loop ("that's made of bamboo that's
made of bamboo..."), repeat one line for every line asked, leave a line empty, or answer in
English whatever language was asked. Each check here is a pure function returning the
problems it found, in words a retry prompt can quote back to the model (empty list: it passes).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from pipelines.languages import (
    CHARACTER_SCRIPTS,
    ISO_SCRIPTS,
    Language,
    detect_language,
    script_share,
    script_units,
)

# Share of a text's n-grams that repeat an earlier one (words; characters for scripts written
# without spaces). Product copy that names its product three times stays under 0.15; a loop
# goes far over (the bamboo loop above: 0.46).
MAX_REPEATED_SHARE = 0.3
WORD_N, CHAR_N = 3, 4
MIN_NGRAMS = 8  # fewer n-grams than this are too few to judge
# A unit of up to MAX_UNIT tokens said MIN_REPEATS times in a row, covering at least
# MIN_SPAN_WORDS words (MIN_SPAN_CHARS characters), is a loop however short the text.
MAX_UNIT, MIN_REPEATS, MIN_SPAN_WORDS, MIN_SPAN_CHARS = 10, 3, 6, 8
MIN_SENTENCE_WORDS, MIN_SENTENCE_CHARS = 3, 4  # shorter sentences may well be said twice
MIN_SCRIPT_SHARE = 0.6  # share of the letters that must be in the language's script
MIN_DETECT_WORDS = 8  # below this, common-word detection is a guess

_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。！？;；\n]+")


def written_in_characters(text: str) -> bool:
    """Whether most of the letters of `text` belong to scripts written without spaces."""
    units = script_units(text)
    dense = sum(n for script, n in units.items() if script in CHARACTER_SCRIPTS)
    return dense * 2 > sum(units.values())


def tokens(text: str) -> list[str]:
    """Lower-cased words, or single letters for Chinese, Japanese, Thai... (punctuation dropped)."""
    text = unicodedata.normalize("NFKC", text).lower()
    if written_in_characters(text):
        return [char for char in text if char.isalnum()]
    return _WORD.findall(text)


def repeated_share(items: Sequence[str], n: int) -> float:
    """Share of the n-grams of `items` that are a repeat of an earlier one (0 when too short)."""
    grams = [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]
    if len(grams) < MIN_NGRAMS:
        return 0.0
    return (len(grams) - len(set(grams))) / len(grams)


def longest_loop(items: Sequence[str]) -> tuple[list[str], int]:
    """The unit repeated back to back the most tokens' worth, and how many times in a row."""
    best: tuple[list[str], int] = ([], 0)
    for size in range(1, MAX_UNIT + 1):
        start = 0
        while start + 2 * size <= len(items):
            unit = items[start : start + size]
            repeats = 1
            while items[start + repeats * size : start + (repeats + 1) * size] == unit:
                repeats += 1
            if repeats > 1 and repeats * size > len(best[0]) * best[1]:
                best = (list(unit), repeats)
            # a start inside the run finds the same loop again, shifted: skip past it
            start += max(1, (repeats - 1) * size)
    return best


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _long_enough(sentence: str, dense: bool) -> bool:
    count = len(tokens(sentence))
    return count >= (MIN_SENTENCE_CHARS if dense else MIN_SENTENCE_WORDS)


def degeneration_problems(text: str) -> list[str]:
    """Why `text` reads as a degenerate generation: a loop, most of it repeated, a sentence
    said twice. Empty list when none."""
    items = tokens(text)
    dense = written_in_characters(text)
    joiner = "" if dense else " "
    problems = []
    unit, repeats = longest_loop(items)
    if repeats >= MIN_REPEATS and len(unit) * repeats >= (
        MIN_SPAN_CHARS if dense else MIN_SPAN_WORDS
    ):
        problems.append(f"repeats '{joiner.join(unit)}' {repeats} times in a row")
    share = repeated_share(items, CHAR_N if dense else WORD_N)
    if share > MAX_REPEATED_SHARE:
        problems.append(f"repetitive: {share:.0%} of its phrases are repeats")
    seen: set[str] = set()
    for sentence in _sentences(text):
        key = joiner.join(tokens(sentence))
        if key in seen and _long_enough(sentence, dense):
            problems.append(f"says '{sentence[:60]}' more than once")
            break
        seen.add(key)
    return problems


T = TypeVar("T")


def line_key(line: str) -> str:
    """What two lines share when one repeats the other (case, spacing, punctuation aside)."""
    return " ".join(tokens(line))


def unique_lines(lines: Sequence[T], text: Callable[[T], str] = str) -> list[T]:
    """The lines (or items whose `text` is a line) without later repeats of an earlier one."""
    seen: set[str] = set()
    kept = []
    for line in lines:
        key = line_key(text(line))
        if key not in seen:
            seen.add(key)
            kept.append(line)
    return kept


def lines_problems(lines: Sequence[str]) -> list[str]:
    """Problems of a list of lines (a script, selling points): empty or repeated lines, and the
    degeneration of the lines read together."""
    problems = []
    empty = [i + 1 for i, line in enumerate(lines) if not tokens(line)]
    if empty:
        problems.append(f"line {', '.join(map(str, empty))} is empty")
    keys = Counter(line_key(line) for line in lines if tokens(line))
    twice = [line for line in lines if tokens(line) and keys[line_key(line)] > 1]
    if twice:  # quoted as written: a model shown a spaced-out line imitates the spacing
        problems.append(f"the line '{twice[0].strip()[:60]}' is repeated")
    text = "\n".join(line.strip().rstrip(".!?。！？") + "." for line in lines if line.strip())
    problems.extend(p for p in degeneration_problems(text) if "more than once" not in p)
    return problems


# how language_problems' reasons start, for a caller that tells them from the other problems
WRONG_LANGUAGE = ("not written in ", "written in English, not ")


def language_problems(
    text: str, language: Language, *, min_share: float = MIN_SCRIPT_SHARE
) -> list[str]:
    """Why `text` is not in `language`: letters in another script, or (for long enough text)
    the common words of another language written in the same script. Empty list when none."""
    share, letters = script_share(text, language)
    if language.script in ISO_SCRIPTS and (letters == 0 or share < min_share):
        return [f"not written in {language.name} ({language.script} script)"]
    return english_instead(text, language)


def english_instead(text: str, language: Language) -> list[str]:
    """Whether `text`, asked for in another language written in Latin letters, is English.

    English is what a small model falls back to; other Latin languages share too many common
    words with their neighbours (es/pt, da/sv, id/ms) to be told apart this way."""
    if language.script != "Latn" or language.code == "en" or len(tokens(text)) < MIN_DETECT_WORDS:
        return []
    return [f"written in English, not {language.name}"] if detect_language(text) == "en" else []


def new_problems(output: Sequence[str], source: Sequence[str]) -> list[str]:
    """`output`'s problems less the kinds `source` has too (a repetitive source, translated
    faithfully, is repetitive as well)."""

    def kind(problem: str) -> str:
        return problem.split(" ", 1)[0]

    inherited = {kind(p) for p in source}
    return [p for p in output if kind(p) not in inherited]
