"""Grounding: a script or copy line may state only facts its inputs give (keywords, product
facts, source line, glossary), in any form and either language."""

import pytest

from pipelines.text.grounding import ungrounded_facts

STEEL_CUP_KEYWORDS = ["不锈钢保温杯", "500毫升", "保冷24小时", "防漏杯盖", "不含BPA", "单价3.2美元"]


def facts_of(line: str, sources: list[str]) -> list[str]:
    return [fact.fact for fact in ungrounded_facts(line, sources)]


def test_an_invented_shelf_life_is_ungrounded_in_english_and_chinese() -> None:
    assert facts_of("This bottle has a 24-month shelf life.", STEEL_CUP_KEYWORDS) == [
        "24-month",
        "shelf life",
    ]
    assert facts_of("保质期长达24个月。", STEEL_CUP_KEYWORDS) == ["24个月", "保质期"]


def test_an_invented_material_feature_or_origin_is_ungrounded() -> None:
    assert facts_of("Made of durable bamboo.", STEEL_CUP_KEYWORDS) == ["bamboo"]
    assert facts_of("透明杯身，一眼看清。", STEEL_CUP_KEYWORDS) == ["透明"]
    assert facts_of("Choose your favourite flavour!", ["stainless steel bottle", "500 ml"]) == [
        "flavour"
    ]
    assert facts_of("Made in China for durability.", STEEL_CUP_KEYWORDS) == ["Made in China"]
    assert facts_of("FDA approved.", STEEL_CUP_KEYWORDS) == ["FDA"]


@pytest.mark.parametrize(
    "line",
    [
        "Stainless steel, 500 ml, keeps drinks cold for 24 hours.",  # zh keywords, en line
        "Leak-proof lid, BPA free, only $3.20!",
        "Keep your drinks icy cold all day long.",  # a paraphrase that claims no new spec
        "500毫升大容量，24小时长效保冷。",
        "Hot sale: grab yours now!",  # "hot" claims no insulation
    ],
)
def test_a_faithful_paraphrase_of_the_keywords_is_grounded(line: str) -> None:
    assert ungrounded_facts(line, STEEL_CUP_KEYWORDS) == []


def test_a_quantity_is_grounded_by_its_value_in_either_language() -> None:
    assert facts_of("500 ml, USD 3.20 each", ["500毫升，单价3.2美元"]) == []
    assert facts_of("容量500毫升，每个3.20美元", ["500 ml bottle, $3.20"]) == []
    assert facts_of("容量750毫升", ["500 ml bottle"]) == ["750毫升"]
    assert facts_of("Only $3.50!", ["单价3.2美元"]) == ["$3.50"]


def test_a_code_must_be_written_in_the_input() -> None:
    assert facts_of("SKU YW-8823, 500 ml", ["货号YW-8823", "500毫升"]) == []
    assert facts_of("SKU YW-9000", ["货号YW-8823"]) == ["YW-9000"]


def test_word_claims_are_not_judged_against_inputs_the_lexicon_cannot_read() -> None:
    # Spanish keywords: "stainless steel" may well be "acero inoxidable"; acronyms still count
    assert facts_of("Stainless steel, BPA free.", ["botella de acero inoxidable sin BPA"]) == []
    assert facts_of("Stainless steel, FDA.", ["botella de acero inoxidable sin BPA"]) == ["FDA"]
