"""QA of a dubbed track: error rates of the back-transcription, timing and fitting statistics."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

MAX_DURATION_DIFF_MS = 50.0


def _normalise(text: str) -> str:
    kept = (
        char if not unicodedata.category(char).startswith(("P", "S")) else " "
        for char in unicodedata.normalize("NFKC", text.lower())
    )
    return " ".join("".join(kept).split())


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def error_rates(reference: str, hypothesis: str) -> dict[str, float | None]:
    """Word and character error rates of `hypothesis` against `reference` (punctuation ignored).

    CER ignores spaces, so it is the meaningful one for Chinese and Japanese.
    """
    ref, hyp = _normalise(reference), _normalise(hypothesis)
    ref_words, ref_chars = ref.split(), list(ref.replace(" ", ""))
    return {
        "wer": round(edit_distance(ref_words, hyp.split()) / len(ref_words), 4)
        if ref_words
        else None,
        "cer": round(edit_distance(ref_chars, list(hyp.replace(" ", ""))) / len(ref_chars), 4)
        if ref_chars
        else None,
    }


def speed_histogram(speeds: Sequence[float]) -> dict[str, int]:
    """Counts of line speed factors in 0.05-wide bins; "1.00" holds the lines left as spoken."""
    bins: Counter[str] = Counter()
    for speed in speeds:
        if speed == 1.0:
            bins["1.00"] += 1
        elif speed > 1.0:
            high = math.ceil(round(speed * 20, 6)) / 20
            bins[f"{high - 0.05:.2f}-{high:.2f}"] += 1
        else:
            low = math.floor(round(speed * 20, 6)) / 20
            bins[f"{low:.2f}-{low + 0.05:.2f}"] += 1
    return dict(sorted(bins.items()))


def line_report(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fitting statistics of one language's lines (as the voice stage recorded them)."""
    speeds = [float(line["speed"]) for line in lines]
    drifts = [abs(float(line["drift_ms"])) for line in lines if line.get("drift_ms") is not None]
    return {
        "lines": len(lines),
        "speed_factors": speeds,
        "speed_histogram": speed_histogram(speeds),
        "lines_stretched": sum(1 for s in speeds if s != 1.0),
        "lines_shortened": sum(1 for line in lines if line["shortenings"] > 0),
        "lines_padded": sum(1 for line in lines if line["padded_s"] > 0.05),
        "lines_trimmed": sum(1 for line in lines if line["trimmed_s"] > 0),
        "max_drift_ms": round(max(drifts), 1) if drifts else 0.0,
    }
