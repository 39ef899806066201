"""Fitting a spoken line into its time slot: shorten (LLM) -> time-stretch -> pad or trim; a line
with a price, MOQ or SKU is given a neighbour's time rather than trimmed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

log = logging.getLogger(__name__)

FADE_S = 0.03  # a cut voice fades out instead of clicking


@dataclass(frozen=True)
class FitPolicy:
    """Bounds of the ladder; the defaults are what a listener hardly notices."""

    min_speed: float = 0.9
    max_speed: float = 1.25
    max_shortenings: int = 2
    tolerance: float = 0.02  # speed changes smaller than this are not worth a resynthesis


@dataclass(frozen=True)
class Slot:
    """Where a line goes: it should last `target_s` and must end within `room_s` of `start`."""

    start: float
    target_s: float
    room_s: float


@dataclass(frozen=True)
class FittedLine:
    """A line as it will be heard, and what the ladder did to get it there."""

    text: str
    original_text: str
    slot: Slot
    pcm: np.ndarray
    rate: int
    synthesized_s: float
    speed: float
    shortenings: int
    padded_s: float
    trimmed_s: float

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.rate


Synthesize = Callable[[str], Awaitable[tuple[np.ndarray, int]]]
# (text, max_units as a fraction of the current length, attempt) -> shorter text or None
Shorten = Callable[[str, float, int], Awaitable[str | None]]
Stretch = Callable[[np.ndarray, int, float], Awaitable[np.ndarray]]


def speed_for(duration_s: float, slot: Slot, policy: FitPolicy) -> float:
    """The playback speed that brings `duration_s` closest to the slot within the policy."""
    if duration_s <= 0 or slot.room_s <= 0:
        return 1.0
    if duration_s > slot.room_s:
        speed = min(policy.max_speed, duration_s / slot.room_s)
    elif duration_s < slot.target_s:
        speed = max(policy.min_speed, duration_s / slot.target_s)
    else:
        speed = 1.0
    return 1.0 if abs(speed - 1.0) < policy.tolerance else round(speed, 4)


def needs_shortening(duration_s: float, slot: Slot, policy: FitPolicy) -> bool:
    """Whether even the fastest allowed speed leaves the line longer than its room."""
    return duration_s > slot.room_s * policy.max_speed * (1 + policy.tolerance)


async def fit_line(
    text: str,
    slot: Slot,
    synthesize: Synthesize,
    shorten: Shorten,
    stretch: Stretch,
    policy: FitPolicy | None = None,
) -> FittedLine:
    """Synthesize `text` and bring it into `slot`, step by step, as gently as possible."""
    policy = policy or FitPolicy()
    current, (pcm, rate) = text, await synthesize(text)
    shortenings = 0
    for attempt in range(1, policy.max_shortenings + 1):
        duration = len(pcm) / rate
        if not needs_shortening(duration, slot, policy):
            break
        ratio = slot.room_s * policy.max_speed / duration
        shorter = await shorten(current, ratio, attempt)
        if not shorter or not shorter.strip() or len(shorter) >= len(current):
            log.info("shortening attempt %d gave nothing shorter for %r", attempt, current)
            continue
        candidate, candidate_rate = await synthesize(shorter)
        shortenings += 1
        if len(candidate) / candidate_rate < duration:
            current, pcm, rate = shorter.strip(), candidate, candidate_rate
    synthesized = len(pcm) / rate
    speed = speed_for(synthesized, slot, policy)
    if speed != 1.0:
        pcm = await stretch(pcm, rate, speed)
    pcm, trimmed = _trim_to(pcm, rate, slot.room_s)
    padded = max(0.0, slot.target_s - len(pcm) / rate)
    return FittedLine(
        text=current,
        original_text=text,
        slot=slot,
        pcm=pcm,
        rate=rate,
        synthesized_s=round(synthesized, 3),
        speed=speed,
        shortenings=shortenings,
        padded_s=round(padded, 3),
        trimmed_s=round(trimmed, 3),
    )


async def fit_lines(
    texts: Sequence[str],
    slots: Sequence[Slot],
    required: Sequence[bool],
    synthesize: Synthesize,
    shorten: Shorten,
    stretch: Stretch,
    policy: FitPolicy | None = None,
) -> list[FittedLine | None]:
    """Fit every line into its slot, as fit_line does; None for a line dropped to make room.

    A line with a `required` fact (a price, MOQ or SKU) is never trimmed while a line without
    one can give way: the next such line is dropped and its time given to it, else the previous
    one, until the line fits. Only a line whose neighbours are required too is trimmed.
    """
    policy = policy or FitPolicy()
    room = list(slots)
    fitted: list[FittedLine | None] = [None] * len(texts)
    dropped: set[int] = set()
    for i, text in enumerate(texts):
        if i in dropped:
            continue
        line = await fit_line(text, room[i], synthesize, shorten, stretch, policy)
        while required[i] and line.trimmed_s > 0:
            after = next((n for n in range(i + 1, len(texts)) if n not in dropped), None)
            before = next((p for p in range(i - 1, -1, -1) if fitted[p] is not None), None)
            slot = room[i]
            if after is not None and not required[after]:
                dropped.add(after)
                end = room[after].start + room[after].room_s
                room[i] = Slot(slot.start, slot.target_s, end - slot.start)
            elif before is not None and not required[before]:
                dropped.add(before)
                fitted[before] = None
                start = room[before].start
                room[i] = Slot(start, slot.target_s, slot.start + slot.room_s - start)
            else:
                break
            # the words already shortened keep their shortening; only the time is new
            again = await fit_line(
                line.text, room[i], synthesize, shorten, stretch, replace(policy, max_shortenings=0)
            )
            line = replace(again, original_text=text, shortenings=line.shortenings)
        fitted[i] = line
    return fitted


def _trim_to(pcm: np.ndarray, rate: int, room_s: float) -> tuple[np.ndarray, float]:
    limit = max(0, int(room_s * rate))
    if len(pcm) <= limit:
        return pcm, 0.0
    cut = pcm[:limit].copy()
    fade = min(len(cut), int(FADE_S * rate))
    if fade:
        cut[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=cut.dtype)
    return cut, (len(pcm) - limit) / rate


def assemble(lines: list[FittedLine], duration_s: float, rate: int) -> np.ndarray:
    """The voice track: every line at its slot's start, silence elsewhere, cut at the clip's end."""
    track = np.zeros(round(duration_s * rate), dtype=np.float32)
    for line in lines:
        pcm = line.pcm if line.rate == rate else _resample(line.pcm, line.rate, rate)
        at = round(line.slot.start * rate)
        end = min(len(track), at + len(pcm))
        if end > at:
            track[at:end] += pcm[: end - at]
    return track


def _resample(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Linear resampling; only used when two voices of one track differ in rate."""
    n = round(len(pcm) * to_rate / rate)
    return np.interp(np.arange(n) * rate / to_rate, np.arange(len(pcm)), pcm).astype(np.float32)
