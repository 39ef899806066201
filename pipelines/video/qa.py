"""QA of a dubbed language on what the buyer hears: the final mix's transcription line by line
(error rates with numbers and prices in one form, facts heard, lines cut, speech rate), the mix's
peaks, silences and voice coverage, and the verdict they add up to (pass, review or fail, with
the reasons). What the pipeline itself forced (drift, duration, loudness) is reported, not judged."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pypinyin import lazy_pinyin

from pipelines.languages import Language
from pipelines.video.audio import SILENT_LUFS
from pipelines.video.script import clean_for_tts, counts_characters, speaking_rate, units
from pipelines.video.settings import VideoQASettings
from pipelines.video.spoken import REQUIRED_KINDS, Fact, facts_in, spoken_form

Verdict = Literal["pass", "review", "fail"]
VERDICTS: tuple[Verdict, ...] = ("pass", "review", "fail")  # from best to worst
# Scripts written without spaces: their back-transcription is judged by character error rate.
CER_SCRIPTS = {"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr"}
# A heard word belongs to the line whose time it falls in, or to the nearest within this margin
# (Whisper's word times are approximate); farther off it belongs to none (the clip's own sound).
ALIGN_MARGIN_S = 0.5
MIN_RATE_SPAN_S = 1.0  # a shorter line's speech rate is all rounding
MIN_MISSED_TOKENS = 3  # fewer missed in a line is one or two misheard words, not a lost line
WORD_PAUSE_S = 0.5  # a pause up to this long between heard words is still the voice speaking
_HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"

# A finding: its verdict, the check that made it (a stable key: see CHECKS), and the reason
Finding = tuple[Verdict, str, str]
CHECKS = {
    "script_fallback": "the script is the fallback: the model's output failed every attempt",
    "required_fact_missing": "a price, MOQ or SKU of the input is not in the script",
    "line_dropped": "a line was dropped to make room for a required fact",
    "not_back_transcribed": "no speech recognition model listened to the mix",
    "words_missed": "too much of the script (or of a line) is not heard in the final mix",
    "not_heard": "a line is not heard at all in the final mix",
    "cut": "a line trimmed to fit its time lost its end",
    "fact_not_heard": "a price, MOQ, SKU or number of a line is not heard",
    "speech_rate": "a line is spoken too fast",
    "silent": "the mix has no measurable loudness",
    "clipping": "the mix's true peak is over the limit",
    "silence": "a long silence in the mix",
    "voice_coverage": "the voice is heard over too little of the clip",
    "voice_buried": "the voice is too quiet against the clip's own sound in the mix",
    "wrong_language": "the mix is heard in another language than the dub's",
    "stream_missing": "the MP4 lacks its video or audio stream",
}


def tokens(spoken: str, language: str, *, by_characters: bool) -> list[str]:
    """Words of a text in spoken form, or its characters (a number counts as one).

    Chinese characters count by their sound, in toneless pinyin: Whisper writes a syllable it
    hears with any of its homophones (单价 "unit price" as 单架), which the buyer hears alike.
    Tones are not judged.
    """
    if not by_characters:
        return spoken.split()
    found: list[str] = []
    for run in re.findall(rf"{_HAN}+|[^{_HAN[1:-1]}]+", spoken.replace(" ", "")):
        if language.split("-")[0] == "zh" and re.match(_HAN, run):
            found += lazy_pinyin(run)
        else:
            found += re.findall(r"\d+(?:\.\d+)?|\S", run)
    return found


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def heard_tokens(reference: Sequence[str], hypothesis: Sequence[str]) -> list[bool]:
    """For each reference token, whether a longest common subsequence with `hypothesis` keeps it."""
    n, m = len(reference), len(hypothesis)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1
                if reference[i] == hypothesis[j]
                else max(table[i + 1][j], table[i][j + 1])
            )
    kept, i, j = [False] * n, 0, 0
    while i < n and j < m:
        if reference[i] == hypothesis[j]:
            kept[i], i, j = True, i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def error_rates(reference: str, hypothesis: str, language: str) -> dict[str, float | None]:
    """Word and character error rates of `hypothesis` against `reference`, both in spoken form
    (punctuation ignored; numbers, number words and prices in one form: see spoken_form), and
    the share of the reference's words and characters not heard at all (`words_missed`,
    `characters_missed`: what a verdict rests on, since extra words heard beside the voice, such
    as the clip's own ducked speech, are no loss of it).

    CER ignores spaces, so it is the meaningful one for Chinese (by sound: see tokens) and
    Japanese.
    """
    ref, hyp = spoken_form(reference, language), spoken_form(hypothesis, language)
    rates: dict[str, float | None] = {}
    for name, missed, by_characters in (
        ("wer", "words_missed", False),
        ("cer", "characters_missed", True),
    ):
        ref_tokens = tokens(ref, language, by_characters=by_characters)
        hyp_tokens = tokens(hyp, language, by_characters=by_characters)
        if not ref_tokens:
            rates[name] = rates[missed] = None
            continue
        rates[name] = round(edit_distance(ref_tokens, hyp_tokens) / len(ref_tokens), 4)
        kept = heard_tokens(ref_tokens, hyp_tokens)
        rates[missed] = round(1 - sum(kept) / len(kept), 4)
    return rates


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


def _over(
    check: str, what: str, value: float, most: float, limits: VideoQASettings, unit: str = ""
) -> list[Finding]:
    """Review over `most`, fail over `fail_factor` times it."""
    if value > most * limits.fail_factor:
        return [("fail", check, f"{what} {value:.3g}{unit} is over {limits.fail_factor:g}x the "
                                f"limit of {most:g}{unit}")]  # fmt: skip
    if value > most:
        return [("review", check, f"{what} {value:.3g}{unit} is over the limit of {most:g}{unit}")]
    return []


def _as_dicts(found: Sequence[Finding]) -> list[dict[str, str]]:
    return [{"check": check, "verdict": verdict, "reason": reason}
            for verdict, check, reason in found]  # fmt: skip


def align(lines: Sequence[dict[str, Any]], words: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The heard words ([start, end, text]) of each line (its `start`..`end` in the clip)."""
    heard: list[list[Any]] = [[] for _ in lines]
    for word in words:
        middle = (float(word[0]) + float(word[1])) / 2
        distances = [
            max(float(line["start"]) - middle, middle - float(line["end"]), 0.0) for line in lines
        ]
        if distances and min(distances) <= ALIGN_MARGIN_S:
            heard[distances.index(min(distances))].append(word)
    return heard


def _quote(text: str, most: int = 40) -> str:
    return f"'{text}'" if len(text) <= most else f"'{text[: most - 1]}…'"


def check_line(
    line: dict[str, Any],
    words: Sequence[Sequence[Any]],
    language: Language,
    limits: VideoQASettings,
    *,
    by_characters: bool,
) -> dict[str, Any]:
    """What the buyer hears of one voiced line: its words as heard in the final mix, its error
    rate, its facts heard or not, whether its end was cut, its speech rate; a verdict, reasons."""
    code, reference = language.code, clean_for_tts(line["text"])
    heard = "".join(str(word[2]) for word in words).strip()
    heard_spoken = spoken_form(heard, code)
    ref_tokens = tokens(spoken_form(reference, code), code, by_characters=by_characters)
    hyp_tokens = tokens(heard_spoken, code, by_characters=by_characters)
    kept = heard_tokens(ref_tokens, hyp_tokens)
    rate_name = "cer" if by_characters else "wer"
    rate = round(edit_distance(ref_tokens, hyp_tokens) / len(ref_tokens), 4) if ref_tokens else None
    facts = facts_in(reference, code)
    missing = [fact for fact in facts if not fact.heard_in(heard_spoken)]
    found: list[Finding] = []
    trimmed = float(line.get("trimmed_s") or 0.0) > 0
    unit = "characters" if by_characters else "words"
    if not any(kept):
        found.append(("fail", "not_heard", "not heard in the final audio" + (f" (heard only {_quote(heard)})"
                                                                  if heard else "")))  # fmt: skip
    else:
        tail = ref_tokens[max(i for i, k in enumerate(kept) if k) + 1 :]
        if trimmed and len(tail) >= 2:  # one misheard last word is no proof of a cut
            joined = ("" if by_characters else " ").join(tail)
            found.append(("review", "cut", f"cut: trimmed to fit its time, its end {_quote(joined)} "
                                    "is not heard"))  # fmt: skip
        # judged on the words missed, not on extra ones: the clip's own speech, ducked under
        # the voice, is heard too
        missed = 1 - sum(kept) / len(kept)
        most = limits.max_cer if by_characters else limits.max_wer
        if len(kept) - sum(kept) >= MIN_MISSED_TOKENS:
            what = f"share of its {unit} not heard"
            for verdict, check, reason in _over("words_missed", what, missed, most, limits):
                found.append((verdict, check, f"{reason} (heard: {_quote(heard)})"))
    heard_else = [f.describe() for f in facts_in(heard, code) if f not in facts]
    for fact in missing:
        # a required fact the fitting cut is sure to be lost; one misheard may be Whisper's error
        severity: Verdict = "fail" if trimmed and fact.kind in REQUIRED_KINDS else "review"
        instead = f"; heard instead: {', '.join(heard_else)}" if heard_else else ""
        found.append(
            (
                severity,
                "fact_not_heard",
                f"{fact.describe()} is not heard (heard: {_quote(heard)}){instead}",
            )
        )
    speech_rate = None
    # over the line's voice as placed in the mix: the words heard there may be the clip's too
    span = float(line["end"]) - float(line["start"])
    if span >= MIN_RATE_SPAN_S:
        speech_rate = round(units(reference, language) / span, 2)
        natural = speaking_rate(language)
        rate_unit = "characters" if counts_characters(language) else "words"
        if speech_rate > natural * limits.max_speech_rate:
            found.append(("review", "speech_rate", f"spoken at {speech_rate:g} {rate_unit}/s, over "
                                    f"{limits.max_speech_rate:g}x the natural {natural:g}"))  # fmt: skip
    return {
        "start": line["start"],
        "end": line["end"],
        "text": reference,
        "heard": heard,
        rate_name: rate,
        "heard_share": round(sum(kept) / len(kept), 3) if kept else None,
        "facts": [{"fact": f.describe(), "kind": f.kind, "heard": f not in missing} for f in facts],
        "speech_rate": speech_rate,
        "trimmed_s": line.get("trimmed_s", 0.0),
        "verdict": worst([v for v, _, _ in found]),
        "reasons": [reason for _, _, reason in found],
        "findings": _as_dicts(found),
    }


def facts_in_script(
    wanted: Sequence[Fact], lines: Sequence[dict[str, Any]], language: str
) -> list[dict[str, Any]]:
    """Each required fact of the input, and whether the voiced script says it."""
    said = spoken_form(" ".join(clean_for_tts(line["text"]) for line in lines), language)
    return [{"fact": fact.describe(), "in_script": fact.heard_in(said)} for fact in wanted]


def voice_coverage(words: Sequence[Sequence[Any]], duration_s: float) -> float:
    """Share of the clip during which the voice is heard (its words, short pauses bridged)."""
    covered, spans = 0.0, sorted((float(word[0]), float(word[1])) for word in words)
    span_start, span_end = spans[0] if spans else (0.0, 0.0)
    for start, end in spans[1:]:
        if start - span_end > WORD_PAUSE_S:
            covered += span_end - span_start
            span_start = start
        span_end = max(span_end, end)
    covered += span_end - span_start
    return round(min(1.0, covered / duration_s), 3) if duration_s > 0 else 0.0


def judge(
    report: dict[str, Any], limits: VideoQASettings, *, by_characters: bool
) -> tuple[Verdict, list[str]]:
    """The verdict on one dubbed language's QA `report`, and the reasons for anything short of
    pass (see findings)."""
    found = findings(report, limits, by_characters=by_characters)
    return worst([f["verdict"] for f in found]), [f["reason"] for f in found]


def findings(
    report: dict[str, Any], limits: VideoQASettings, *, by_characters: bool
) -> list[dict[str, Any]]:
    """What one dubbed language's QA `report` falls short in: each finding's check (a key of
    CHECKS), verdict and reason; a line's also its number. `by_characters`: judge the
    back-transcription by characters (zh, ja...), not words.

    Evidence is what the buyer gets: the final mix as heard (pooled and line by line), the facts
    of the input in the script, its language, peaks, silences, voice coverage and the voice's
    level over the clip's sound, and its streams. Drift, duration and loudness are values the
    pipeline forced: reported, never a reason."""
    found: list[Finding] = []
    if report.get("script_source") == "fallback":
        found.append(("review", "script_fallback",
                      f"the script is a fallback ({report.get('script_fallback')}): "
                      "the model's output failed the checks on every attempt"))  # fmt: skip
    for fact in report.get("required_facts", []):
        if not fact["in_script"]:
            found.append(("fail", "required_fact_missing",
                          f"the script never says the {fact['fact']} given in the input"))  # fmt: skip
    for dropped in report.get("dropped_lines", []):
        found.append(("review", "line_dropped",
                      f"the line {_quote(dropped['text'])} was dropped to make room for "
                      "a line with a price, MOQ or SKU"))  # fmt: skip
    back = report.get("back_transcription") or {}
    unit = "characters" if by_characters else "words"
    if back.get("text") is None:
        found.append(("review", "not_back_transcribed",
                      "the voice was not back-transcribed (no speech recognition model)"))  # fmt: skip
    elif back.get(f"{unit}_missed") is not None:
        most = limits.max_cer if by_characters else limits.max_wer
        what = f"share of the script's {unit} not heard"
        found += _over("words_missed", what, float(back[f"{unit}_missed"]), most, limits)
    heard_as = report.get("heard_language") or {}
    if (
        heard_as.get("code") not in (None, heard_as.get("expected"))
        and heard_as["probability"] >= limits.min_language_probability
    ):
        found.append(("fail", "wrong_language",
                      f"the mix is heard as {heard_as['code']} (probability "
                      f"{heard_as['probability']:.2f}), not {heard_as['expected']}"))  # fmt: skip
    loudness = report.get("loudness_lufs")
    if loudness is None or not math.isfinite(loudness) or loudness <= SILENT_LUFS:
        found.append(("fail", "silent", "the dubbed audio has no measurable loudness (silent?)"))
    peak = report.get("true_peak_dbtp")
    if peak is not None and peak > limits.max_true_peak_dbtp:
        found.append(("fail" if peak > 0 else "review", "clipping",
                      f"true peak {peak:g} dBTP is over {limits.max_true_peak_dbtp:g} dBTP: "
                      "the mix may clip"))  # fmt: skip
    longest = report.get("longest_silence_s")
    if longest is not None and longest > limits.max_silence_s:
        found.append(("review", "silence", f"{longest:.1f} s of silence, over the limit of "
                                           f"{limits.max_silence_s:g} s"))  # fmt: skip
    coverage = report.get("voice_coverage")  # None when nothing listened
    if coverage is not None and coverage < limits.min_voice_coverage:
        found.append(("review", "voice_coverage",
                      f"the voice is heard over {coverage:.0%} of the clip, under "
                      f"{limits.min_voice_coverage:.0%}"))  # fmt: skip
    over = report.get("voice_over_background_db")  # None without a voice track to compare
    if over is not None and over < limits.min_voice_over_background_db:
        found.append(("review", "voice_buried",
                      f"the voice is {over:.1f} dB over the clip's own sound, under the "
                      f"{limits.min_voice_over_background_db:g} dB a listener needs"))  # fmt: skip
    streams = report.get("streams") or {}
    missing = [kind for kind in ("video", "audio") if kind not in streams]
    unplayable: list[Finding] = [
        ("fail", "stream_missing", f"the dubbed MP4 has no {' or '.join(missing)} stream")
    ] if missing else []  # fmt: skip
    lines = [
        {**finding, "line": number,
         "reason": f"line {number} ({_quote(line['text'], 30)}): {finding['reason']}"}
        for number, line in enumerate(report.get("line_checks", []), 1)
        for finding in line.get("findings", [])
    ]  # fmt: skip
    # what each line says, read back against its source or the input (pipelines.video.readback):
    # its checks are the translation checks' codes (polarity_flip, fact_invented, leftover...)
    lines += [
        {"check": finding["code"], "verdict": finding["verdict"], "line": number,
         "reason": f"line {number} ({_quote(entry['text'], 30)}): {finding['message']}"}
        for number, entry in enumerate(report.get("read_back", []), 1)
        for finding in entry["findings"]
    ]  # fmt: skip
    return _as_dicts(found) + lines + _as_dicts(unplayable)
