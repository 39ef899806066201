"""Pure parts of the video pipeline: the fitting ladder, subtitle line breaking, script parsing, QA maths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import srt
import webvtt

from pipelines.languages import load_languages
from pipelines.subtitles import break_lines, cues_for_line, to_srt, to_vtt
from pipelines.video.fit import FitPolicy, Slot, assemble, fit_line, fit_lines, speed_for
from pipelines.video.qa import (
    align,
    check_line,
    error_rates,
    judge,
    line_report,
    speed_histogram,
    voice_coverage,
    worst,
)
from pipelines.video.script import (
    ScriptRequest,
    check_lines,
    clean_for_tts,
    fallback_script,
    parse_lines,
    plan_slots,
    units,
)
from pipelines.video.settings import VideoQASettings
from pipelines.video.spoken import Fact, facts_in, required_facts, spoken_form

RATE = 1000  # samples per second of the fake voice: one sample per millisecond
LANG = load_languages()


def _voice(text: str) -> np.ndarray:
    """A fake synthesiser: 100 ms per character."""
    return np.full(len(text) * 100, 0.5, dtype=np.float32)


class Ladder:
    """Scripted engines for fit_line, recording what the ladder asked of them."""

    def __init__(self, shorter: list[str | None]) -> None:
        self.shorter = list(shorter)
        self.asked: list[tuple[str, float, int]] = []
        self.speeds: list[float] = []

    async def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        return _voice(text), RATE

    async def shorten(self, text: str, ratio: float, attempt: int) -> str | None:
        self.asked.append((text, ratio, attempt))
        return self.shorter.pop(0) if self.shorter else None

    async def stretch(self, pcm: np.ndarray, rate: int, speed: float) -> np.ndarray:
        self.speeds.append(speed)
        return np.resize(pcm, round(len(pcm) / speed))

    async def fit(self, text: str, slot: Slot, policy: FitPolicy | None = None):
        return await fit_line(text, slot, self.synthesize, self.shorten, self.stretch, policy)


async def test_a_line_that_fits_is_left_alone():
    ladder = Ladder([])
    line = await ladder.fit("a" * 20, Slot(1.0, 2.0, 2.5))  # 2.0 s into a 2.0 s slot
    assert (line.speed, line.shortenings, line.trimmed_s, line.padded_s) == (1.0, 0, 0.0, 0.0)
    assert ladder.asked == [] and ladder.speeds == []


async def test_a_slightly_long_line_is_sped_up_not_shortened():
    ladder = Ladder([])
    line = await ladder.fit("a" * 24, Slot(0.0, 2.0, 2.0))  # 2.4 s into 2.0 s: 1.2x
    assert line.speed == pytest.approx(1.2)
    assert ladder.asked == [] and line.duration_s == pytest.approx(2.0, abs=0.01)


async def test_a_much_too_long_line_is_shortened_first_then_stretched():
    ladder = Ladder(["b" * 23])
    line = await ladder.fit("a" * 40, Slot(0.0, 2.0, 2.0))  # 4.0 s, then 2.3 s
    assert line.text == "b" * 23 and line.original_text == "a" * 40
    assert line.shortenings == 1
    assert ladder.asked[0][1] == pytest.approx(2.0 * 1.25 / 4.0)
    assert line.speed == pytest.approx(1.15)
    assert line.trimmed_s == 0.0


async def test_useless_shortenings_are_retried_a_bounded_number_of_times_then_trimmed():
    ladder = Ladder([None, "a" * 50, "c" * 39])
    line = await ladder.fit("a" * 40, Slot(0.0, 2.0, 2.0), FitPolicy(max_shortenings=2))
    assert len(ladder.asked) == 2  # bounded, the third answer is never asked for
    assert line.shortenings == 0  # neither answer was a shorter line
    assert line.speed == 1.25  # the fastest allowed, and no faster
    assert line.duration_s == pytest.approx(2.0, abs=0.001)  # what is left is cut at the slot
    assert line.trimmed_s == pytest.approx(3.2 - 2.0, abs=0.01)
    assert line.pcm[-1] == 0.0  # faded out, not clicked off


async def test_a_short_line_is_slowed_at_most_to_0_9_then_padded():
    ladder = Ladder([])
    line = await ladder.fit("a" * 10, Slot(0.0, 2.0, 3.0))  # 1.0 s in a 2.0 s slot
    assert line.speed == 0.9
    assert line.padded_s == pytest.approx(2.0 - 1.0 / 0.9, abs=0.01)


async def test_a_price_line_is_given_the_next_lines_time_rather_than_cut():
    ladder = Ladder([])
    texts = ["Only $3.20 each, minimum order 100 bottles", "Nice.", "Order today, ship tomorrow"]
    slots = [Slot(0.0, 2.0, 2.0), Slot(2.1, 1.4, 1.5), Slot(3.7, 2.5, 2.7)]  # 4.2 s of price
    fitted = await fit_lines(
        texts, slots, [True, False, False], ladder.synthesize, ladder.shorten, ladder.stretch
    )
    price, dropped, last = fitted
    assert dropped is None and last is not None and last.text == texts[2]
    assert price is not None and price.text == texts[0] and price.trimmed_s == 0.0
    assert price.slot.room_s == pytest.approx(3.6)  # to the end of the dropped line's room


async def test_a_price_line_at_the_end_takes_the_previous_lines_time():
    ladder = Ladder([])
    texts = ["Look at this.", "Only $3.20 each, minimum order 100 bottles"]
    slots = [Slot(0.5, 2.0, 2.0), Slot(2.6, 2.0, 2.0)]
    first, price = await fit_lines(
        texts, slots, [False, True], ladder.synthesize, ladder.shorten, ladder.stretch
    )
    assert first is None
    assert price is not None and price.trimmed_s == 0.0 and price.slot.start == 0.5


async def test_two_lines_with_facts_never_drop_each_other_they_are_trimmed():
    ladder = Ladder([])
    texts = ["USD 3.20 per bottle, carton of fifty", "MOQ 100, sample 3 days"]
    slots = [Slot(0.0, 1.0, 1.0), Slot(1.1, 1.0, 1.0)]
    fitted = await fit_lines(
        texts, slots, [True, True], ladder.synthesize, ladder.shorten, ladder.stretch
    )
    assert all(line is not None and line.trimmed_s > 0 for line in fitted)


def test_speed_stays_within_the_policy():
    policy = FitPolicy()
    for duration in np.linspace(0.1, 10.0, 50):
        speed = speed_for(float(duration), Slot(0.0, 2.0, 2.5), policy)
        assert policy.min_speed <= speed <= policy.max_speed


def test_assembled_voice_never_runs_past_the_clip():
    ladder_line = np.ones(3 * RATE, dtype=np.float32)
    from pipelines.video.fit import FittedLine

    line = FittedLine("x", "x", Slot(4.0, 2.0, 2.0), ladder_line, RATE, 3.0, 1.0, 0, 0.0, 0.0)
    track = assemble([line], 5.0, RATE)
    assert len(track) == 5 * RATE and track[4 * RATE :].all() and not track[: 4 * RATE].any()


# --- subtitles ---------------------------------------------------------------------------------
def test_chinese_breaks_by_characters_preferring_punctuation():
    text = "这款不锈钢保温杯可以保温十二小时，轻便耐用，适合户外旅行和日常通勤使用。"
    lines = break_lines(text, "zh")
    assert all(len(line.rstrip("，。")) <= 16 for line in lines)  # punctuation may hang
    assert "".join(lines) == text
    assert lines[0].endswith("，")
    assert not any(line[0] in "，。" for line in lines)


def test_english_breaks_between_words_at_42_characters():
    text = (
        "This lightweight backpack keeps your laptop safe and your shoulders comfortable all day."
    )
    lines = break_lines(text, "en")
    assert all(len(line) <= 42 for line in lines) and " ".join(lines) == text


def test_right_to_left_lines_are_marked():
    lines = break_lines("500 مل زجاجة ماء", "ar")
    assert lines and all(line.startswith("\u200f") for line in lines)


def test_long_lines_become_several_cues_of_at_most_two_lines():
    text = "这款不锈钢保温杯可以保温十二小时，轻便耐用，适合户外旅行和日常通勤使用，也是送礼的最佳选择。"
    cues = cues_for_line(1.0, 5.0, text, "zh")
    assert len(cues) >= 2 and all(len(c.lines) <= 2 for c in cues)
    assert cues[0].start == 1.0 and cues[-1].end == pytest.approx(5.0)
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(cues))


def test_srt_and_vtt_parse_and_no_cue_text_holds_the_timing_arrow(tmp_path):
    cues = cues_for_line(0.5, 2.0, "Hello --> world & <friends>", "en")
    parsed = list(srt.parse(to_srt(cues)))
    assert parsed[0].content == "Hello -> world & <friends>"
    vtt_file = tmp_path / "x.vtt"
    vtt_file.write_text(to_vtt(cues), encoding="utf-8")
    caption = webvtt.read(str(vtt_file)).captions[0]
    assert caption.start == "00:00:00.500" and "-->" not in caption.text


# --- script ------------------------------------------------------------------------------------
def test_llm_lines_are_found_in_json_with_chatter_around_it():
    answer = 'Sure! Here it is:\n```json\n{"lines": ["Stay cool.", {"text": "Buy now!"}]}\n```'
    assert parse_lines(answer) == ["Stay cool.", "Buy now!"]
    assert parse_lines('{"lines": ["ok", ""]}') is None
    assert parse_lines(" \n\n") is None
    # small models rarely write JSON: plain lines, numbering and preamble dropped
    assert parse_lines('Here is your script:\n1. Stay cool.\n2) "Buy now!"\n') == [
        "Stay cool.",
        "Buy now!",
    ]


def test_lines_in_the_wrong_script_are_rejected():
    zh = LANG.get("zh")
    assert check_lines(["保温杯很好用。"], zh, 1) is None
    assert "not written in" in (check_lines(["A great bottle."], zh, 1) or "")
    assert "lines" in (check_lines(["一", "二", "三", "四"], zh, 1) or "")
    assert "broken" in (check_lines(["保温杯\ufffd好"], zh, 1) or "")


def test_slots_fit_the_clip_with_a_budget_per_language():
    for code in ("zh", "en"):
        language = LANG.get(code)
        slots = plan_slots(30.0, language)
        assert slots[0][0] > 0 and slots[-1][1] < 30.0
        assert all(a[1] < b[0] for a, b in itertools.pairwise(slots))
    zh_budget = plan_slots(30.0, LANG.get("zh"))[0][2]
    en_budget = plan_slots(30.0, LANG.get("en"))[0][2]
    assert zh_budget > en_budget  # characters per second outnumber words per second
    assert units("保温 杯！", LANG.get("zh")) == 3 and units("keep it cool", LANG.get("en")) == 3


def test_fallback_script_uses_the_merchants_keywords():
    request = ScriptRequest(("保温杯", "轻便"), "", "", 6.0)
    lines = fallback_script(request, LANG.get("zh"))
    assert "保温杯" in "".join(line.text for line in lines)
    assert lines[-1].end <= 6.0


def test_what_goes_to_the_voice_has_no_markup_nor_control_characters():
    # a keyword line with a NUL would make Piper fail the whole dub
    assert clean_for_tts("**Steel**\x00 bottle\x07 #1\n[cold]") == "Steel bottle 1 cold"


# --- QA ----------------------------------------------------------------------------------------
def test_error_rates():
    assert error_rates("Keep it cool, all day.", "keep it cool all day", "en") == {
        "wer": 0.0, "words_missed": 0.0, "cer": 0.0, "characters_missed": 0.0,
    }  # fmt: skip
    assert error_rates("a b c d", "a x c", "en")["wer"] == 0.5
    # words heard beside the voice are errors of the transcript, not words missed
    extra = error_rates("a b c d", "x a b y c d z", "en")
    assert extra["wer"] == 0.75 and extra["words_missed"] == 0.0
    assert error_rates("保温杯", "保温", "zh")["cer"] == pytest.approx(1 / 3, abs=1e-3)


def test_spelled_out_numbers_and_prices_read_the_same_as_whispers_digits():
    # the en dub: heard exactly, yet WER 0.381 while numbers were compared as written
    script = (
        "This steel bottle keeps drinks cold for twenty-four hours. "
        "Only three dollars twenty, minimum order one hundred bottles."
    )
    heard = (
        "This steel bottle keeps drinks cold for 24 hours. Only $3.20, minimum order 100 bottles."
    )
    assert error_rates(script, heard, "en")["wer"] == 0.0
    assert spoken_form("USD 3.20", "en") == spoken_form("3.2 dollars", "en") == "3.2 usd"
    assert spoken_form("单价三点二美元", "zh") == "单价 3.2 usd"
    assert spoken_form("一起来看看，十分好用", "zh") == "一起来看看 十分好用"  # words, not numbers
    assert spoken_form("tres euros con veinte", "es") == "3.2 eur"


def test_the_facts_of_a_line_are_its_price_moq_sku_and_numbers():
    facts = facts_in("500 ml bottle, USD 3.20, MOQ 500 pcs, SKU YW-8823", "en")
    assert facts == [
        Fact("sku", "yw8823"), Fact("price", "3.2 usd"), Fact("moq", "500"), Fact("number", "500"),
    ]  # fmt: skip
    assert required_facts("100件起订，每件0.85美元", "zh") == [
        Fact("price", "0.85 usd"), Fact("moq", "100"),
    ]  # fmt: skip
    assert required_facts("two cups, 24 hours cold", "en") == []


def _words(text: str, start: float, end: float) -> list[list[object]]:
    """Whisper-like words spread evenly over `start`..`end`."""
    parts = text.split(" ")
    step = (end - start) / len(parts)
    return [[start + i * step, start + (i + 1) * step, f" {w}"] for i, w in enumerate(parts)]


def test_a_price_heard_wrong_in_a_line_is_named():
    zh, limits = LANG.get("zh"), VideoQASettings()
    line = {"start": 0.5, "end": 2.5, "text": "单价三点二美元", "trimmed_s": 0.0}
    heard = [[0.6, 1.0, "单架"], [1.0, 1.6, "3.0"], [1.6, 2.2, "美元"]]
    check = check_line(line, heard, zh, limits, by_characters=True)
    assert check["verdict"] == "review"
    assert any("price 3.2 USD is not heard" in r and "3 USD" in r for r in check["reasons"])
    # the right price, and a homophone Whisper wrote for 价: the buyer heard it right
    right = [[0.6, 1.0, "单架"], [1.0, 1.6, "3.2"], [1.6, 2.2, "美元"]]
    assert check_line(line, right, zh, limits, by_characters=True)["verdict"] == "pass"
    assert error_rates("全新不锈钢保温杯", "全信不秀刚宝文贝", "zh")["cer"] == 0.0


def test_a_line_whose_end_is_cut_from_the_audio_fails_on_its_price():
    en, limits = LANG.get("en"), VideoQASettings()
    line = {"start": 0.5, "end": 3.0, "text": "Minimum order one hundred, only three dollars twenty.",
            "trimmed_s": 1.1}  # fmt: skip
    check = check_line(line, _words("Minimum order 100, only", 0.5, 2.0), en, limits,
                       by_characters=False)  # fmt: skip
    assert check["verdict"] == "fail"
    assert any(
        r.startswith("cut: trimmed to fit its time, its end '3.2 usd'") for r in check["reasons"]
    )
    assert any("price 3.2 USD is not heard" in r for r in check["reasons"])
    silent = check_line(line, [], en, limits, by_characters=False)
    assert silent["verdict"] == "fail" and silent["reasons"][0] == "not heard in the final audio"


def test_words_heard_beside_a_line_are_not_its_errors():
    # the clip's own speech, ducked under the voice, is heard while the line plays
    line = {"start": 0.0, "end": 2.0, "text": "It holds half a litre.", "trimmed_s": 0.0}
    heard = _words("Keep water it holds half a liter", 0.0, 2.0)
    check = check_line(line, heard, LANG.get("en"), VideoQASettings(), by_characters=False)
    assert check["verdict"] == "pass" and check["heard_share"] == 0.8


def test_a_word_or_two_misheard_in_a_short_line_is_no_lost_line_but_gabbling_is_flagged():
    en, limits = LANG.get("en"), VideoQASettings()
    line = {"start": 0.0, "end": 1.5, "text": "It holds half a liter.", "trimmed_s": 0.0}
    heard = _words("It holds half the leader", 0.0, 1.5)
    assert check_line(line, heard, en, limits, by_characters=False)["verdict"] == "pass"
    gabbled = "Steel, light, cold, cheap, strong, safe, new, fine."
    fast = {"start": 0.0, "end": 1.5, "text": gabbled}
    check = check_line(fast, _words(gabbled, 0.0, 1.5), en, limits, by_characters=False)
    assert check["speech_rate"] == 5.33 and check["reasons"] == [
        "spoken at 5.33 words/s, over 2x the natural 2.5"
    ]


def test_heard_words_go_to_the_line_playing_then_and_coverage_counts_them():
    lines = [{"start": 0.5, "end": 2.0}, {"start": 3.0, "end": 4.5}]
    words = [[0.6, 0.9, "a"], [1.9, 2.3, "b"], [2.6, 2.8, "c"], [3.1, 3.5, "d"], [8.0, 8.4, "e"]]
    assert align(lines, words) == [[words[0], words[1]], [words[2], words[3]]]
    # a alone; b to d, their pauses under half a second bridged; e alone
    assert voice_coverage(words, 10.0) == pytest.approx((0.3 + 1.6 + 0.4) / 10)


def test_speed_histogram_and_line_report():
    assert speed_histogram([1.0, 1.0, 1.25, 1.12, 0.9]) == {
        "0.90-0.95": 1, "1.00": 2, "1.10-1.15": 1, "1.20-1.25": 1,
    }  # fmt: skip
    report = line_report(
        [
            {"speed": 1.0, "shortenings": 1, "padded_s": 0.5, "trimmed_s": 0.0, "drift_ms": 20.0},
            {"speed": 1.2, "shortenings": 0, "padded_s": 0.0, "trimmed_s": 0.1, "drift_ms": -35.0},
        ]
    )
    assert report["lines_shortened"] == 1 and report["lines_padded"] == 1
    assert report["lines_trimmed"] == 1 and report["max_drift_ms"] == 35.0


def _qa_report(**changes: object) -> dict[str, object]:
    report: dict[str, object] = {
        "script_source": "llm", "script_fallback": None,
        "back_transcription": {"text": "keep it cool", "wer": 0.1, "cer": 0.05,
                               "words_missed": 0.1, "characters_missed": 0.05},
        "max_drift_ms": 30.0, "duration_diff_ms": 10.0, "loudness_lufs": -16.4,
        "loudness_target_lufs": -16.0, "streams": {"video": "h264", "audio": "aac"},
    }  # fmt: skip
    return report | changes


def test_qa_verdict_passes_a_good_dub_and_names_what_is_short_of_it():
    limits = VideoQASettings()
    assert judge(_qa_report(), limits, by_characters=False) == ("pass", [])
    fallback = judge(_qa_report(script_source="fallback", script_fallback="keywords"), limits,
                     by_characters=False)  # fmt: skip
    assert fallback[0] == "review" and "fallback (keywords)" in fallback[1][0]
    # the en dub: most of a looping script never heard is over twice the limit
    heard = {"text": "that's made of", "wer": 0.98, "cer": 0.9, "words_missed": 0.9,
             "characters_missed": 0.85}  # fmt: skip
    assert judge(_qa_report(back_transcription=heard), limits, by_characters=False)[0] == "fail"
    # Chinese is judged by characters, not the words of text without spaces
    zh = {"text": "保温杯", "wer": 1.0, "cer": 0.2, "words_missed": 1.0, "characters_missed": 0.2}
    assert judge(_qa_report(back_transcription=zh), limits, by_characters=True)[0] == "pass"
    # what the pipeline forced is no evidence: loudness off target, drift, duration
    forced = _qa_report(loudness_lufs=-19.0, max_drift_ms=900.0, duration_diff_ms=300.0)
    assert judge(forced, limits, by_characters=False) == ("pass", [])
    # what the buyer hears is
    clipped = judge(_qa_report(true_peak_dbtp=0.4), limits, by_characters=False)
    assert clipped[0] == "fail" and "true peak 0.4 dBTP" in clipped[1][0]
    gap = judge(_qa_report(longest_silence_s=4.2), limits, by_characters=False)
    assert gap == ("review", ["4.2 s of silence, over the limit of 3 s"])
    lost = {"fact": "price 3.2 USD", "in_script": False}
    dropped = judge(_qa_report(required_facts=[lost]), limits, by_characters=False)
    assert dropped == ("fail", ["the script never says the price 3.2 USD given in the input"])
    silent = judge(_qa_report(loudness_lufs=-70.0), limits, by_characters=False)
    assert silent[0] == "fail"
    unheard = judge(_qa_report(back_transcription={"text": None}), limits, by_characters=False)
    assert unheard[0] == "review"
    assert worst(["pass", "review", "fail", "pass"]) == "fail" and worst([]) == "pass"


def test_lines_that_repeat_the_instructions_are_rejected():
    # the default model's real answer once ended with its limits instead of lines
    en = LANG.get("en")
    lines = [
        "Meet the new steel bottle.",
        "It keeps water cold for a whole day.",
        "At most 8 words",
    ]
    assert "instructions" in (check_lines(lines, en, 3) or "")
    assert check_lines(lines[:2], en, 2) is None
