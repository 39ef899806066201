"""Subtitles: readable line breaks per script (CJK by characters, RTL marked) and SRT/WebVTT text."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

# Scripts written without spaces between words: broken anywhere, preferably after punctuation.
UNSPACED = {"zh", "ja", "th", "lo", "km", "my"}
RTL = {"ar", "he", "fa", "ur", "ps", "yi", "dv", "ug", "sd", "ku"}
# Characters per subtitle line: the usual broadcast guidance (Netflix timed-text style guides).
MAX_CHARS = {"zh": 16, "ja": 13, "ko": 16, "th": 35}
DEFAULT_MAX_CHARS = 42
MAX_LINES = 2
RLM = "\u200f"  # right-to-left mark: a line starting with digits or a Latin brand stays RTL
# CJK punctuation a line may end with but must not start with.
_CLOSING = set("，。！？、；：）」』》〉】,.!?;:)")
_BREAK_AFTER = set("，。！？、；：,.!?;:")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def base_language(language: str) -> str:
    return language.split("-")[0].split("_")[0].lower()


def max_chars_per_line(language: str) -> int:
    return MAX_CHARS.get(base_language(language), DEFAULT_MAX_CHARS)


def break_lines(text: str, language: str, max_chars: int | None = None) -> list[str]:
    """Break `text` into subtitle lines of at most `max_chars` (by script) characters each."""
    text = " ".join(text.split())
    if not text:
        return []
    width = max_chars or max_chars_per_line(language)
    if base_language(language) in UNSPACED:
        lines = _break_unspaced(text, width)
    else:
        lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)
    if base_language(language) in RTL:
        lines = [RLM + line for line in lines]
    return lines


def _break_unspaced(text: str, width: int) -> list[str]:
    lines: list[str] = []
    rest = text
    while len(rest) > width:
        # a closing mark right after a full line hangs on it; else prefer the last punctuation
        # in the second half of the line; a line never starts with a closing mark
        if rest[width] in _CLOSING:
            cut = width + 1
        else:
            cut = next(
                (i + 1 for i in range(width - 1, width // 2 - 1, -1) if rest[i] in _BREAK_AFTER),
                width,
            )
        while cut < len(rest) and rest[cut] in _CLOSING and cut > 1:
            cut -= 1
        lines.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        lines.append(rest)
    return lines


def cues_for_line(start: float, end: float, text: str, language: str) -> list[Cue]:
    """One spoken line as cues of at most two subtitle lines, time shared by text length."""
    lines = break_lines(text, language)
    if not lines or end <= start:
        return []
    groups = [tuple(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    total = sum(len("".join(g)) for g in groups)
    cues, at = [], start
    for group in groups:
        share = (end - start) * len("".join(group)) / total
        cues.append(Cue(round(at, 3), round(min(end, at + share), 3), group))
        at += share
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n" + "\n".join(c.lines)
        for i, c in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(cues: list[Cue]) -> str:
    blocks = [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n"
        + "\n".join(_escape_vtt(line) for line in c.lines)
        for c in cues
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def _escape_vtt(line: str) -> str:
    # "-->" would end the cue text early; & and < start entities and tags
    return re.sub("-->", "→", line.replace("&", "&amp;").replace("<", "&lt;"))
