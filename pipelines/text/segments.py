"""Split long text on paragraph and sentence boundaries into pieces that fit a token budget."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_LINE_BREAKS = re.compile(r"(\s*\n\s*)")
# after sentence-ending punctuation: whitespace (Latin, Arabic, Devanagari) or nothing (CJK)
_SENTENCE_END = re.compile(r"(?<=[.!?;…؟।။።])(\s+)|(?<=[。！？；])(\s*)")
_CLAUSE_END = re.compile(r"(?<=[,，、:：])(\s*)")
_SPACES = re.compile(r"(\s+)")


@dataclass(frozen=True)
class Segment:
    text: str
    separator: str  # the whitespace that followed it in the source ("" after the last one)


def _pieces(text: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """Split keeping each piece's trailing separator: "a. b" -> [("a.", " "), ("b", "")]."""
    # re.split with groups interleaves the captured separators (None for a group that did not
    # take part), so the non-None chunks alternate piece, separator, piece, ...
    chunks = [part for part in pattern.split(text) if part is not None]
    out: list[tuple[str, str]] = []
    for i in range(0, len(chunks), 2):
        piece = chunks[i]
        separator = chunks[i + 1] if i + 1 < len(chunks) else ""
        if piece:
            out.append((piece, separator))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + separator)
    return out


def split_text(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> list[Segment]:
    """Segments in order; joining `text + separator` of all of them gives back `text` (stripped)."""
    segments: list[Segment] = []
    for line, line_break in _pieces(text.strip(), _LINE_BREAKS):
        segments.extend(_pack(line, line_break, max_tokens, count_tokens))
    return segments


def _pack(
    line: str, line_break: str, max_tokens: int, count_tokens: Callable[[str], int]
) -> Iterator[Segment]:
    """Greedily join the sentences of one line while they fit in `max_tokens`."""
    units = list(_fitting_units(line, max_tokens, count_tokens))
    current, current_sep = "", ""
    for i, (unit, separator) in enumerate(units):
        last = i == len(units) - 1
        candidate = current + current_sep + unit if current else unit
        if current and count_tokens(candidate) > max_tokens:
            yield Segment(current, current_sep)
            candidate = unit
        current, current_sep = candidate, separator
        if last:
            yield Segment(current, line_break)


def _fitting_units(
    text: str, max_tokens: int, count_tokens: Callable[[str], int]
) -> Iterator[tuple[str, str]]:
    """Sentences of `text`; a sentence over budget is cut at clauses, then words, then chars."""
    for pattern in (_SENTENCE_END, _CLAUSE_END, _SPACES):
        pieces = _pieces(text, pattern)
        if len(pieces) > 1 or count_tokens(text) <= max_tokens:
            break
    for piece, separator in pieces:
        if count_tokens(piece) <= max_tokens:
            yield piece, separator
        elif len(pieces) > 1:
            *inner, (tail, _) = list(_fitting_units(piece, max_tokens, count_tokens))
            yield from inner
            yield tail, separator
        else:  # one unbreakable run (e.g. a long CJK sentence without punctuation)
            step = max(1, len(piece) * max_tokens // max(count_tokens(piece), 1))
            chunks = [piece[i : i + step] for i in range(0, len(piece), step)]
            for chunk in chunks[:-1]:
                yield chunk, ""
            yield chunks[-1], separator


def join_segments(texts: list[str], separators: list[str], no_spaces: bool) -> str:
    """Reassemble translated segments; scripts written without spaces drop the space between
    sentences but keep line breaks."""
    parts = []
    for text, separator in zip(texts, separators, strict=True):
        if no_spaces and separator and not separator.strip(" \t"):
            separator = ""
        parts.append(text + separator)
    return "".join(parts).strip()
