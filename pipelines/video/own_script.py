"""The user's own voice-over (SRT, or plain lines) as timed script lines, checked against the clip."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import srt

from pipelines.errors import InvalidInput
from pipelines.languages import Language
from pipelines.video.script import LEAD_IN_S, TAIL_S, ScriptLine, budget, plan_slots

MIN_LINE_S = 0.5  # plain lines spread thinner than this would be gabbled


@dataclass(frozen=True)
class Cue:
    """A line the user timed: spoken from `start` to `end` (seconds in the clip)."""

    start: float
    end: float
    text: str


# where a cue's problem is reported: (cue index, field) -> `param` of the error
ParamOf = Callable[[int, str], str]


def is_srt(text: str) -> bool:
    """SubRip has a `-->` timing line; anything else is plain lines."""
    return "-->" in text


def parse_srt(text: str, param: str) -> list[Cue]:
    """The cues of SRT `text`, in file order; each cue's text lines joined by spaces."""
    try:
        subtitles = list(srt.parse(text.replace("\r\n", "\n"), ignore_errors=False))
    except (srt.SRTParseError, ValueError) as exc:
        raise InvalidInput(
            f"'{param}' is not valid SRT: {exc}", param=param, code="invalid_script"
        ) from exc
    return [
        Cue(s.start.total_seconds(), s.end.total_seconds(), " ".join(s.content.split()))
        for s in subtitles
    ]


def plain_lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def check_cues(cues: Sequence[Cue], duration_s: float | None, param_of: ParamOf) -> None:
    """Refuse cues that are empty, reversed, out of order, overlapping, or (when the clip's
    duration is known) outside the clip: a voice cannot be fitted to them."""
    if not cues:
        raise InvalidInput("The script has no lines", param=param_of(-1, ""), code="empty_script")
    for i, cue in enumerate(cues):
        where = f"line {i + 1} ({cue.start:.3f} --> {cue.end:.3f} s)"
        if not cue.text.strip():
            raise _bad(f"{where} has no text", param_of(i, "text"))
        if cue.start < 0:
            raise _bad(f"{where} starts before the clip", param_of(i, "start"))
        if cue.end <= cue.start:
            raise _bad(f"{where} ends before it starts", param_of(i, "end"))
        if duration_s is not None and cue.end > duration_s + 1e-3:
            raise _bad(f"{where} ends after the clip ({duration_s:.3f} s)", param_of(i, "end"))
        if i and cue.start < cues[i - 1].end - 1e-3:
            previous = "starts before the previous line" if cue.start < cues[i - 1].start else (
                "overlaps the previous line"
            )  # fmt: skip
            raise _bad(f"{where} {previous}", param_of(i, "start"))


def _bad(message: str, param: str) -> InvalidInput:
    return InvalidInput(f"{message}: '{param}'", param=param, code="invalid_script")


def check_script(text: str, param: str, duration_s: float | None = None) -> None:
    """What can be checked of a script before the clip's duration is known (and more after)."""
    if is_srt(text):
        check_cues(parse_srt(text, param), duration_s, lambda _i, _f: param)
    elif not plain_lines(text):
        raise InvalidInput("The script has no lines", param=param, code="empty_script")
    elif duration_s is not None:
        _check_fits(len(plain_lines(text)), duration_s, param)


def script_lines(text: str, language: Language, duration_s: float, param: str) -> list[ScriptLine]:
    """The script's timed lines: SRT cues as timed, plain lines spread evenly over the clip."""
    check_script(text, param, duration_s)
    if is_srt(text):
        cues = parse_srt(text, param)
        return [
            ScriptLine(
                round(c.start, 3), round(c.end, 3), c.text, budget(c.end - c.start, language)
            )
            for c in cues
        ]
    lines = plain_lines(text)
    slots = plan_slots(duration_s, language, len(lines))  # as an LLM's script would be timed
    return [ScriptLine(s, e, t, b) for (s, e, b), t in zip(slots, lines, strict=True)]


def _check_fits(count: int, duration_s: float, param: str) -> None:
    usable = duration_s - LEAD_IN_S - TAIL_S
    if usable / count < MIN_LINE_S:
        raise InvalidInput(
            f"{count} lines do not fit a {duration_s:.1f}-second clip (at most "
            f"{max(1, int(usable / MIN_LINE_S))}); time them as SRT or use fewer: '{param}'",
            param=param,
            code="invalid_script",
        )


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text of `cues` (to the millisecond), as a re-dub's script."""
    return srt.compose(
        [
            srt.Subtitle(
                i + 1,
                datetime.timedelta(seconds=round(c.start, 3)),
                datetime.timedelta(seconds=round(c.end, 3)),
                c.text,
            )
            for i, c in enumerate(cues)
        ],
        reindex=False,
    )
