"""The quality gates on generated text: loops, repeated or empty lines, the wrong language."""

from __future__ import annotations

import pytest

from pipelines.languages import load_languages
from pipelines.quality import (
    degeneration_problems,
    language_problems,
    lines_problems,
    repeated_share,
    tokens,
    unique_lines,
)
from pipelines.text.copywriting_checks import copy_problems
from pipelines.text.copywriting_schema import ProductCopy, ProductFacts
from pipelines.text.translation_checks import translation_problems
from pipelines.video.script import check_lines

LANG = load_languages()

# What SmolLM2-135M wrote as the en voice-over of a bamboo toothbrush clip (issue 9): one
# subtitle cue after another of the same loop.
BAMBOO_LOOP = (
    "A bamboo toothbrush that's made of bamboo that's made of bamboo that's made of bamboo "
    "that's made of bamboo that's made of bamboo that's made of bamboo"
)
BAMBOO_SCRIPT = [
    "A bamboo toothbrush that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo that's made of bamboo",
    "that's made of bamboo",
]
# ... and what the zh script fell back to: the bare (English) keywords.
KEYWORD_FALLBACK = ["bamboo。", "toothbrush。"]
# Small models' other favourite: one sentence again and again, in Chinese too.
ZH_LOOP = "这款牙刷由竹子制成。这款牙刷由竹子制成。这款牙刷由竹子制成。这款牙刷由竹子制成。"
ZH_CHAR_LOOP = "竹牙刷竹牙刷竹牙刷竹牙刷竹牙刷"

GOOD = {
    "en": "This stainless steel bottle keeps water cold for 24 hours. It holds 500 ml, weighs "
    "300 g and fits every cup holder. The stainless steel bottle is leak-proof and easy to "
    "clean.",
    "zh": "这款不锈钢保温杯可保冷24小时，容量500毫升，重量仅300克。不锈钢保温杯密封防漏，"
    "轻便易携带，适合办公室、健身房和户外旅行使用。",
    "de": "Diese Edelstahlflasche hält Wasser 24 Stunden lang kalt. Sie fasst 500 ml, wiegt "
    "nur 300 g und passt in jeden Becherhalter. Die Flasche ist auslaufsicher und leicht "
    "zu reinigen.",
    "ar": "تحافظ هذه الزجاجة المصنوعة من الفولاذ المقاوم للصدأ على برودة الماء لمدة 24 ساعة. "
    "سعتها 500 مل ووزنها 300 غرام فقط، وهي مانعة للتسرب وسهلة التنظيف.",
}
GOOD_SCRIPTS = {
    "en": ["Meet the bamboo toothbrush.", "Soft bristles, gentle on gums.",
           "Made from natural bamboo.", "Good for you, good for the planet."],
    "zh": ["天然竹柄牙刷，环保又健康。", "刷毛柔软，呵护牙龈。", "可降解材料，减少塑料垃圾。",
           "现在就下单吧！"],
    "de": ["Die Zahnbürste aus Bambus.", "Weiche Borsten für dein Zahnfleisch.",
           "Aus natürlichem Bambus gemacht.", "Gut für dich und die Umwelt."],
    "ar": ["فرشاة أسنان من الخيزران الطبيعي.", "شعيرات ناعمة تحمي اللثة.",
           "صديقة للبيئة وقابلة للتحلل.", "اطلبها الآن!"],
}  # fmt: skip


def test_the_bamboo_loop_is_degenerate():
    problems = degeneration_problems(BAMBOO_LOOP)
    assert any("that's made of bamboo" in p and "in a row" in p for p in problems)
    assert any(p.startswith("repetitive") for p in problems)
    assert repeated_share(tokens(BAMBOO_LOOP), 3) > 0.5


def test_a_script_of_the_loop_is_rejected_line_by_line_and_as_a_whole():
    problems = lines_problems(BAMBOO_SCRIPT)
    assert any("is repeated" in p for p in problems)
    assert any("in a row" in p for p in problems)
    assert check_lines(BAMBOO_SCRIPT, LANG.get("en"), expected=8) is not None


def test_chinese_loops_are_found_by_characters():
    assert any("more than once" in p for p in degeneration_problems(ZH_LOOP))
    assert any("'竹牙刷' 5 times" in p for p in degeneration_problems(ZH_CHAR_LOOP))


def test_keywords_left_in_english_are_not_a_chinese_script():
    assert language_problems(" ".join(KEYWORD_FALLBACK), LANG.get("zh")) == [
        "not written in Chinese (Simplified) (Hans script)"
    ]
    assert check_lines(KEYWORD_FALLBACK, LANG.get("zh"), expected=2) is not None


def test_empty_lines_are_named():
    assert lines_problems(["Soft bristles.", " ", "Order now."]) == ["line 2 is empty"]


def test_english_asked_for_german_is_the_wrong_language():
    assert language_problems(GOOD["en"], LANG.get("de")) == ["written in English, not German"]


@pytest.mark.parametrize("code", ["en", "zh", "de", "ar"])
def test_good_text_passes_every_check(code: str):
    language = LANG.get(code)
    assert degeneration_problems(GOOD[code]) == []
    assert language_problems(GOOD[code], language) == []
    assert lines_problems(GOOD_SCRIPTS[code]) == []
    assert check_lines(GOOD_SCRIPTS[code], language, expected=4) is None


def test_a_looping_translation_is_rejected_unless_the_source_loops_too():
    source = "Bamboo toothbrush, made of bamboo, with soft bristles."
    target = LANG.get("de")
    looped = "Bambuszahnbürste aus Bambus aus Bambus aus Bambus aus Bambus aus Bambus aus Bambus"
    assert any("in a row" in p for p in translation_problems(source, looped, target, []))
    chant = "Buy now, buy now, buy now, buy now, buy now, buy now!"
    echoed = "Jetzt kaufen, jetzt kaufen, jetzt kaufen, jetzt kaufen, jetzt kaufen, jetzt kaufen!"
    assert not any("in a row" in p for p in translation_problems(chant, echoed, target, []))


def test_a_translation_into_german_that_came_out_english_is_rejected():
    problems = translation_problems(
        GOOD["zh"], GOOD["en"], LANG.get("de"), [], source_language=LANG.get("zh")
    )
    assert "written in English, not German" in problems
    assert not any(
        "English" in p
        for p in translation_problems(
            GOOD["zh"], GOOD["de"], LANG.get("de"), [], source_language=LANG.get("zh")
        )
    )


def test_copy_with_a_repeated_selling_point_is_rejected():
    copy = ProductCopy(
        title="Bamboo toothbrush",
        selling_points=["Made of bamboo.", "Soft bristles.", "Made of bamboo."],
        description=BAMBOO_LOOP,
        video_script=[{"visual": "brush", "voiceover": "Meet the bamboo toothbrush."}],
    )
    problems = copy_problems(copy, ProductFacts(name="Bamboo toothbrush"), LANG.get("en"))
    assert any(p.startswith("selling_points: the line") for p in problems)
    assert any(p.startswith("description: repeats") for p in problems)


def test_a_script_closing_on_its_opening_line_keeps_one_of_them() -> None:
    # the default model's real zh script: the last line repeats the first
    lines = [
        "这款钢瓶可以保持水冷24小时。",
        "它的盖子是密封的，所以可以安全地放在你的包里。",
        "它能装半升水，只有300克。",
        "这款钢瓶可以保持水冷24小时。",
    ]
    assert any("repeated" in p for p in lines_problems(lines))
    assert unique_lines(lines) == lines[:3]
    assert lines_problems(unique_lines(lines)) == []
