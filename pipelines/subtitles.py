"""Subtitles for the transcription API and the dubbed videos: cues, readable line breaks per
script (CJK by characters, RTL marked), and SubRip / WebVTT text written by `srt` and `webvtt-py`."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import srt
import webvtt
from webvtt.models import Timestamp

from models.asr import Segment

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
# The cue-timing arrow (and longer ones): inside cue text it would end the cue early.
_ARROW = re.compile(r"-{2,}>")


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen: its time span in seconds and its lines (none of them empty)."""

    start: float
    end: float
    lines: tuple[str, ...]


# --- cues ---------------------------------------------------------------------------------------
def segment_cues(segments: Iterable[Segment]) -> list[Cue]:
    """A one-line cue per transcribed segment that has text, as OpenAI's srt/vtt answers have."""
    cues = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if text:
            cues.append(Cue(segment.start, segment.end, (text,)))
    return cues


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


# --- line breaking ------------------------------------------------------------------------------
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


# --- files --------------------------------------------------------------------------------------
def to_srt(cues: list[Cue]) -> str:
    """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""
    subtitles = [
        srt.Subtitle(
            index,
            timedelta(milliseconds=round(cue.start * 1000)),
            timedelta(milliseconds=round(cue.end * 1000)),
            "\n".join(_ARROW.sub("->", line) for line in cue.lines),
        )
        for index, cue in enumerate(cues, start=1)
    ]
    # numbered and kept as given: reindexing would sort, and drop cues of no duration
    return srt.compose(subtitles, reindex=False)


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT: a header, then cues `HH:MM:SS.mmm --> HH:MM:SS.mmm` with their text escaped."""
    captions = [
        webvtt.Caption(
            str(Timestamp.from_seconds(cue.start)),
            str(Timestamp.from_seconds(cue.end)),
            [_vtt_escape(_ARROW.sub("->", line)) for line in cue.lines],
        )
        for cue in cues
    ]
    return webvtt.WebVTT(captions=captions).content


def _vtt_escape(text: str) -> str:
    # cue text is markup: & starts an entity and < a tag
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
