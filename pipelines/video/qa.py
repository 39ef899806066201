"""QA of a dubbed track: error rates of the back-transcription, timing and fitting statistics,
and the verdict they add up to (pass, review or fail, with the reasons)."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pipelines.video.settings import VideoQASettings

Verdict = Literal["pass", "review", "fail"]
VERDICTS: tuple[Verdict, ...] = ("pass", "review", "fail")  # from best to worst
# Scripts written without spaces: their back-transcription is judged by character error rate.
CER_SCRIPTS = {"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr"}


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


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The worst of `verdicts` (pass for none)."""
    return max(verdicts, key=VERDICTS.index, default="pass")


def judge(
    report: dict[str, Any], limits: VideoQASettings, *, by_characters: bool
) -> tuple[Verdict, list[str]]:
    """The verdict on one dubbed language's QA `report`, and the reasons for anything short of
    pass. `by_characters`: judge the back-transcription by CER (zh, ja...) rather than WER."""
    found: list[tuple[Verdict, str]] = []

    def limit(what: str, value: float, most: float, unit: str) -> None:
        if value > most * limits.fail_factor:
            found.append(("fail", f"{what} {value:.3g}{unit} is over {limits.fail_factor:g}x "
                                  f"the limit of {most:g}{unit}"))  # fmt: skip
        elif value > most:
            found.append(
                ("review", f"{what} {value:.3g}{unit} is over the limit of {most:g}{unit}")
            )

    if report.get("script_source") == "fallback":
        found.append(("review", f"the script is a fallback ({report.get('script_fallback')}): "
                                "the model's output failed the checks on every attempt"))  # fmt: skip
    back = report.get("back_transcription") or {}
    rate_name = "cer" if by_characters else "wer"
    if back.get("text") is None:
        found.append(("review", "the voice was not back-transcribed (no speech recognition model)"))
    elif back.get(rate_name) is not None:
        most = limits.max_cer if by_characters else limits.max_wer
        limit(f"back-transcription {rate_name.upper()}", float(back[rate_name]), most, "")
    limit("line drift", float(report.get("max_drift_ms") or 0.0) / 1000, limits.max_drift_s, " s")
    diff_s = abs(float(report.get("duration_diff_ms") or 0.0)) / 1000
    limit("duration difference", diff_s, limits.max_duration_diff_s, " s")
    loudness, target = report.get("loudness_lufs"), report.get("loudness_target_lufs")
    if loudness is None or not math.isfinite(loudness):
        found.append(("fail", "the dubbed audio has no measurable loudness (silent?)"))
    elif target is not None:
        limit("loudness off target by", abs(loudness - target), limits.max_loudness_diff_lu, " LU")
    streams = report.get("streams") or {}
    missing = [kind for kind in ("video", "audio") if kind not in streams]
    if missing:
        found.append(("fail", f"the dubbed MP4 has no {' or '.join(missing)} stream"))
    return worst([v for v, _ in found]), [reason for _, reason in found]
