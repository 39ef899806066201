"""The verifiers on their own: what must survive a translation, glossary rules, language and
script checks, sentence segmentation and source detection."""

from __future__ import annotations

import pytest

from pipelines.languages import detect_language, load_languages
from pipelines.text.glossary import GlossaryEntry, glossary_problems
from pipelines.text.guardrails import missing_tokens, protected_tokens
from pipelines.text.segments import join_segments, split_text
from pipelines.text.translation_checks import clean_output, translation_problems

LANG = load_languages()
SOURCE = (
    "Yiwu Star bottle AB-1234, only $12.99 (was US$ 15), 500ml, 24 hours, sizes S/M/L and XL. "
    "See https://shop.example.com/p/123?ref=a or mail sales@yiwu.cn. MOQ 100 pcs, ¥1,299."
)


def test_every_kind_of_merchant_token_is_found_in_the_source() -> None:
    found = {(t.kind, t.text) for t in protected_tokens(SOURCE)}
    assert found == {
        ("sku", "AB-1234"),
        ("price", "$12.99"),
        ("price", "US$15"),
        ("number", "500ml"),
        ("number", "24 hours"),
        ("size", "S"),
        ("size", "M"),
        ("size", "L"),
        ("size", "XL"),
        ("url", "https://shop.example.com/p/123?ref=a"),
        ("email", "sales@yiwu.cn"),
        ("number", "100"),
        ("price", "¥1,299"),
    }


def test_a_faithful_translation_keeps_every_token() -> None:
    german = (
        "Yiwu Star Flasche AB-1234, nur $12.99 (vorher US$15), 500 ml, 24 Stunden, Größen "
        "S/M/L und XL. Siehe https://shop.example.com/p/123?ref=a oder sales@yiwu.cn. "
        "Mindestmenge 100 Stück, ￥1,299."
    )
    assert missing_tokens(SOURCE, german) == []


@pytest.mark.parametrize(
    ("changed", "lost"),
    [
        ("$12.99", "$12,99"),  # locale formatting changes the number
        ("AB-1234", "AB1234"),  # a SKU loses its dash
        ("24 hours", "twenty-four hours"),  # a number spelled out
        ("https://shop.example.com/p/123?ref=a", "https://shop.example.com/p/123"),
        ("¥1,299", "1,299"),  # the currency dropped
        ("¥1,299", "€1,299"),  # another currency
    ],
)
def test_a_changed_token_is_reported(changed: str, lost: str) -> None:
    output = SOURCE.replace(changed, lost)
    missing = missing_tokens(SOURCE, output)
    assert missing, f"{changed} -> {lost} went unnoticed"
    assert any(changed.replace(" ", "").startswith(t.text.replace(" ", "")) for t in missing)


def test_counts_matter_two_twos_need_two_twos() -> None:
    assert [t.text for t in missing_tokens("2 packs of 2", "2 Packungen zu zwei")] == ["2"]


def test_glossary_keeps_brands_and_enforces_fixed_renderings() -> None:
    entries = [
        GlossaryEntry(term="Yiwu Star"),
        GlossaryEntry(term="thermos", translations={"de": "Isolierflasche", "zh-CN": "保温杯"}),
    ]
    assert entries[1].translations == {"de": "Isolierflasche", "zh": "保温杯"}
    source = "The Yiwu Star thermos keeps tea hot."
    de, zh = LANG.get("de"), LANG.get("zh")
    good_de = "Die Yiwu Star Isolierflasche hält Tee heiß."
    assert glossary_problems(entries, source, good_de, de) == []
    bad_de = "Die Yiwu Stern Thermoskanne hält Tee heiß."
    assert glossary_problems(entries, source, bad_de, de) == [
        "glossary: must keep 'Yiwu Star'",
        "glossary: must render 'thermos' as 'Isolierflasche'",
    ]
    assert glossary_problems(entries, source, "Yiwu Star保温杯让茶保持热。", zh) == []
    # "Star" inside "Starlight" is not the brand
    assert glossary_problems([GlossaryEntry(term="Star")], "Starlight lamp", "Lampe", de) == []


def test_translation_in_the_wrong_language_or_with_notes_is_rejected() -> None:
    zh, de, en = LANG.get("zh"), LANG.get("de"), LANG.get("en")
    source = "This stainless steel bottle keeps drinks cold for 24 hours."
    assert translation_problems(source, "这款不锈钢瓶可保冷24小时。", zh, []) == []
    assert "not written in Chinese (Simplified) (Hans script)" in translation_problems(
        source, "This steel bottle keeps drinks cold for 24 hours.", zh, []
    )
    untranslated = translation_problems(source, source, de, [], source_language=en)
    assert untranslated == ["still in English, not translated"]
    chatty = source + " Here is my translation, I hope it helps you with your shop. " * 5
    assert any("far longer" in p for p in translation_problems(source, chatty, de, []))
    assert translation_problems(source, "", de, []) == ["empty translation"]
    assert "cut off at the token limit" in translation_problems(
        source, "Diese Flasche 24", de, [], finish_reason="length"
    )


def test_a_spec_claim_the_source_never_makes_is_rejected() -> None:
    zh, en = LANG.get("zh"), LANG.get("en")
    source = "这款不锈钢瓶可保冷24小时。"
    invented = "This stainless steel bottle keeps drinks cold for 24 hours and is BPA free."
    assert translation_problems(source, invented, en, []) == [
        "states 'BPA' (BPA), which the source does not: translate only what it says"
    ]
    assert (
        "'透明' (transparent)"
        in translation_problems(
            "Stainless steel bottle, 500 ml.", "透明不锈钢瓶，500毫升。", zh, []
        )[0]
    )


def test_chat_wrapping_is_removed_from_an_answer() -> None:
    assert clean_output("Hello", 'Translation: "Hallo"') == "Hallo"
    assert clean_output('"Hello"', '"Hallo"') == '"Hallo"'
    assert clean_output("Hi", "```\nHallo\n```") == "Hallo"


def test_long_text_is_split_on_boundaries_and_reassembled_in_order() -> None:
    def words(text: str) -> int:
        return len(text.split())

    text = "One two three. Four five six!\n\nSeven eight, nine ten eleven twelve.\n- a\n- b"
    segments = split_text(text, 4, words)
    assert [s.text for s in segments] == [
        "One two three.",
        "Four five six!",
        "Seven eight,",
        "nine ten eleven twelve.",
        "- a",
        "- b",
    ]
    assert "".join(s.text + s.separator for s in segments) == text
    assert join_segments([s.text for s in segments], [s.separator for s in segments], False) == text
    chinese = split_text("第一句。第二句！第三句没有标点但是太长了", 6, len)
    assert [s.text for s in chinese] == ["第一句。", "第二句！", "第三句没有标", "点但是太长了"]
    joined = join_segments(["第一句。", "第二句。"], [" ", ""], no_spaces=True)
    assert joined == "第一句。第二句。"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("This bottle keeps your drinks cold and it is made for you.", "en"),
        ("Esta botella de acero mantiene las bebidas frías para la familia.", "es"),
        ("这款保温杯采用不锈钢，我们的价格很好", "zh"),
        ("這款保溫杯採用不鏽鋼，我們的價格很好", "zh-Hant"),
        ("ステンレス製のボトルです", "ja"),
        ("이 병은 스테인리스입니다", "ko"),
        ("هذه الزجاجة مصنوعة من الفولاذ", "ar"),
        ("این بطری از فولاد ساخته شده است", "fa"),
        ("یہ بوتل بہت اچھی ہے", "ur"),
        ("Эта бутылка сделана из стали", "ru"),
        ("Ця пляшка зроблена зі сталі, її", "uk"),
        ("ขวดนี้ทำจากสแตนเลส", "th"),
        ("Chai này được làm bằng thép không gỉ", "vi"),
    ],
)
def test_source_language_is_detected(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_language_catalogue_covers_the_trade_languages() -> None:
    codes = set(LANG.codes())
    wanted = "zh en es pt fr de it ru ar tr ja ko vi th id ms hi ur bn fa pl nl uk ro cs el he"
    assert set((wanted + " sv hu fil sw ha am kk uz my").split()) <= codes
    assert len(codes) >= 36
    for language in LANG.languages:
        assert language.direction == ("rtl" if language.code in {"ar", "he", "fa", "ur"} else "ltr")
    assert LANG.get("fil").whisper_code == "tl" and LANG.get("ha").espeak is None
    assert LANG.find("pt-BR").code == "pt" and LANG.find("zh-TW").code == "zh-Hant"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "output",
    [
        "不锈钢瓶，500毫升，USD3.20，SKU YW-8823",  # "，" is "," under NFKC: 500 still stands alone
        "不锈钢瓶子，容量500毫升，售价3.20美元，SKU YW-8823",  # the currency named in Chinese
        "كأس معدنية، 500 مل، دولار 3.20، SKU YW-8823",
        "Edelstahlflasche, 500 ml, $3.20, SKU YW-8823",
    ],
)
def test_real_translations_that_keep_every_number_pass(output: str) -> None:
    # outputs of the default Qwen2.5-Coder-1.5B for the README's example
    source = "Stainless steel bottle, 500 ml, USD 3.20, SKU YW-8823"
    assert missing_tokens(source, output) == []


@pytest.mark.parametrize(
    "output",
    [
        "不锈钢瓶，500毫升，3.20，SKU YW-8823",  # the currency gone
        "不锈钢瓶，500毫升，3.02美元，SKU YW-8823",  # the amount changed
        "不锈钢瓶，500毫升，3.20欧元，SKU YW-8823",  # another currency
    ],
)
def test_a_price_whose_currency_is_dropped_or_changed_is_reported(output: str) -> None:
    source = "Stainless steel bottle, 500 ml, USD 3.20, SKU YW-8823"
    assert [t.text for t in missing_tokens(source, output)] == ["USD3.20"]


def test_the_source_handed_back_untranslated_is_rejected_even_without_stopwords() -> None:
    source = "Stainless steel bottle, 500 ml, USD 3.20, SKU YW-8823"
    de = LANG.get("de")
    # the default model's real answer for German at temperature 0
    assert "the source text copied, not translated" in translation_problems(source, source, de, [])
    translated = "Edelstahlflasche, 500 ml, USD 3.20, SKU YW-8823"
    assert translation_problems(source, translated, de, []) == []
    # a brand kept by the glossary is not a copy
    brand = [GlossaryEntry(term="Yiwu Star Bottle")]
    assert translation_problems("Yiwu Star Bottle", "Yiwu Star Bottle", de, brand) == []


def test_numbers_alone_or_words_left_in_chinese_are_not_a_translation() -> None:
    # the default model's real answers while its languages were rated
    en, de = LANG.get("en"), LANG.get("de")
    source = "Keeps drinks cold for 24 hours and hot for 12 hours"
    assert "only the numbers and codes were kept: translate the words too" in (
        translation_problems(source, "24, 12", de, [])
    )
    half = translation_problems(
        "保冷24小时，保温12小时", "Cold storage for 24 hours, 保温 for 12 hours.", en, []
    )
    assert "left untranslated: '保温'" in half
    assert (
        translation_problems(
            "保冷24小时，保温12小时", "Keeps cold for 24 hours, warm for 12 hours.", en, []
        )
        == []
    )
    # a brand written in Han that the glossary keeps is not a leftover
    brand = [GlossaryEntry(term="义乌之星")]
    assert translation_problems("义乌之星水杯", "义乌之星 water cup", en, brand) == []
