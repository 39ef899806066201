"""POST /v1/translations/checks and back-translation, on the embedded default's real models:
a merchant who cannot read the target language learns, per line, what it says and what is wrong
with it. Hand-made defects are flagged every time; faithful human translations pass."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from pipelines.text.faithfulness_schema import MAX_CHECK_CHARS, MAX_CHECK_LINES
from tests.fixtures_server import assert_error

pytestmark = [pytest.mark.real_weights, pytest.mark.asyncio(loop_scope="module")]

CHECKS = "/v1/translations/checks"
HAN = re.compile(r"[\u4e00-\u9fff]")
CUP_ZH = "不锈钢保温杯，500毫升，保冷24小时。\n单价3.20美元，起订量100个。"
CUP_EN = "Stainless steel insulated cup, 500 ml, keeps drinks cold for 24 hours.\n"
PRICE_EN = "Unit price USD 3.20, minimum order 100 pieces."
BOTTLE_EN = "Stainless steel bottle keeps drinks cold for 24 hours."


async def check(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post(CHECKS, json={"back_translate": False, **body})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def codes(line: dict[str, Any]) -> list[str]:
    return [finding["code"] for finding in line["findings"]]


@pytest.mark.parametrize(
    ("source", "translation", "languages"),
    [
        (CUP_ZH, CUP_EN + PRICE_EN, ("zh", "en")),
        (
            "不锈钢保温杯，500毫升，保冷24小时。\n起订量100个，支持定制logo。",
            "Vaso térmico de acero inoxidable, 500 ml, mantiene las bebidas frías durante 24 "
            "horas.\nPedido mínimo: 100 unidades; logotipo personalizado disponible.",
            ("zh", "es"),
        ),
        (
            f"{BOTTLE_EN}\nLeak-proof lid, BPA free.",
            "不锈钢水瓶可让饮料保冷24小时。\n防漏杯盖，不含BPA。",
            ("en", "zh"),
        ),
    ],
    ids=["zh-en", "zh-es", "en-zh"],
)
async def test_a_faithful_human_translation_passes_every_line(
    default_app: httpx.AsyncClient, source: str, translation: str, languages: tuple[str, str]
) -> None:
    result = await check(
        default_app,
        source=source,
        translation=translation,
        source_language=languages[0],
        target_language=languages[1],
        facts=["USD 3.20", "100"] if "3.20" in source else [],
    )
    assert result["verdict"] == "pass", result
    assert result["object"] == "translation.check" and result["findings"] == []
    assert len(result["lines"]) == 2
    for line in result["lines"]:
        assert line["verdict"] == "pass" and line["source"], line
        assert line["similarity"] >= result["thresholds"]["meaning_review_below"]
        assert line["back_translation"] is None


# One defect each, and the finding that must name it on the broken line, every time.
DEFECTS = {
    "negated": (BOTTLE_EN, "不锈钢水瓶不能让饮料保冷24小时。", "en", "zh", "polarity_flip", "fail"),
    "ask-not": (
        "Ask not what your country can do for you.",
        "No dudes en preguntar qué puede hacer tu país por ti.",
        "en",
        "es",
        "polarity_flip",
        "fail",
    ),
    "mistranslated": (
        "Foldable design saves space in your backpack.",
        "本店所有商品均可开具发票。",
        "en",
        "zh",
        "meaning_differs",
        "review",
    ),
    "price-changed": (
        CUP_ZH,
        CUP_EN + PRICE_EN.replace("3.20", "3.50"),
        "zh",
        "en",
        "fact_changed",
        "fail",
    ),
    "moq-changed": (
        CUP_ZH,
        CUP_EN + PRICE_EN.replace("100", "1000"),
        "zh",
        "en",
        "fact_changed",
        "fail",
    ),
    "invented-spec": (
        BOTTLE_EN,
        "不锈钢水瓶可让饮料保冷24小时，保质期36个月。",
        "en",
        "zh",
        "fact_invented",
        "review",
    ),
    "added-line": (
        CUP_ZH,
        CUP_EN + "Choose your favourite flavour.\n" + PRICE_EN,
        "zh",
        "en",
        "hallucinated_line",
        "fail",
    ),
    "english-left": (
        "Everything you need for a day outdoors.",
        "户外一天所需的everything都在这里。",
        "en",
        "zh",
        "leftover",
        "review",
    ),
}


@pytest.mark.parametrize("defect", DEFECTS)
async def test_a_hand_made_defect_is_flagged_on_its_line_with_its_reason_every_time(
    default_app: httpx.AsyncClient, defect: str
) -> None:
    source, translation, source_language, target, code, verdict = DEFECTS[defect]
    body = {
        "source": source,
        "translation": translation,
        "source_language": source_language,
        "target_language": target,
    }
    result = await check(default_app, **body)
    flagged = [line for line in result["lines"] if code in codes(line)]
    assert len(flagged) == 1, result
    assert flagged[0]["verdict"] == verdict and result["verdict"] == verdict, result
    finding = next(f for f in flagged[0]["findings"] if f["code"] == code)
    assert finding["message"] and HAN.search(finding["message_zh"]), finding
    assert await check(default_app, **body) == result  # deterministic: no model's luck


async def test_a_required_fact_missing_from_the_translation_fails_the_whole_text(
    default_app: httpx.AsyncClient,
) -> None:
    result = await check(
        default_app,
        source=CUP_ZH,
        translation=CUP_EN + "Unit price USD 3.20.",
        source_language="zh",
        target_language="en",
        facts=["USD 3.20", "MOQ 100", "YW-8823"],
    )
    assert result["verdict"] == "fail"
    missing = [f["message"] for f in result["findings"] if f["code"] == "required_fact_missing"]
    assert len(missing) == 2 and "MOQ 100" in missing[0] and "YW-8823" in missing[1], result
    assert "fact_missing" in codes(result["lines"][1])  # the MOQ of that line's source


async def test_each_line_is_read_back_to_the_merchant_in_chinese(
    default_app: httpx.AsyncClient, real_seed: int
) -> None:
    r = await default_app.post(
        CHECKS,
        json={
            "source": "Ask not what your country can do for you.",
            "translation": "No dudes en preguntar qué puede hacer tu país por ti.",
            "target_language": "es",
            "seed": real_seed,
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["model"] == "qwen2.5-coder-1.5b-instruct"
    assert (result["source_language"], result["merchant_language"]) == ("en", "zh")
    (line,) = result["lines"]
    assert len(HAN.findall(line["back_translation"] or "")) >= 4, line
    assert isinstance(line["back_similarity"], float)
    assert "polarity_flip" in codes(line) and line["verdict"] == "fail"


async def test_a_translation_into_the_merchants_own_language_is_read_as_it_is(
    default_app: httpx.AsyncClient,
) -> None:
    r = await default_app.post(
        CHECKS,
        json={
            "source": BOTTLE_EN,
            "translation": "不锈钢水瓶可让饮料保冷24小时。",
            "target_language": "zh",
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["model"] is None and result["verdict"] == "pass"  # no model was asked
    (line,) = result["lines"]
    assert line["back_translation"] == line["translation"]


async def test_translations_carry_their_back_translation_unless_asked_not_to(
    default_app: httpx.AsyncClient, real_seed: int
) -> None:
    body = {"text": "不锈钢水瓶，500毫升", "target_languages": ["en"], "seed": real_seed}
    r = await default_app.post("/v1/translations", json=body)
    assert r.status_code == 200, r.text
    (en,) = r.json()["translations"]
    assert en["status"] == "ok" and "500" in en["text"]
    assert "500" in en["back_translation"] and HAN.search(en["back_translation"]), en
    r = await default_app.post("/v1/translations", json={**body, "back_translate": False})
    assert r.json()["translations"][0]["back_translation"] is None


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"translation": None}, "translation", "missing"),
        ({"translation": "  \n "}, "translation", "string_pattern_mismatch"),
        ({"target_language": "xx-klingon"}, "target_language", "value_error"),
        ({"merchant_language": "tlh"}, "merchant_language", "value_error"),
        ({"source_language": "elvish"}, "source_language", "value_error"),
        ({"source": "a" * (MAX_CHECK_CHARS + 1)}, "source", "string_too_long"),
        ({"translation": "line\n" * (MAX_CHECK_LINES + 1)}, "translation", "too_many_lines"),
        ({"facts": [""]}, "facts", "value_error"),
        ({"embedding_model": "no-such-model"}, "embedding_model", "model_not_found"),
        ({"glossary": "never-saved"}, "glossary", "glossary_not_found"),
        ({"colour": "red"}, "colour", "extra_forbidden"),
    ],
)
async def test_a_bad_check_request_gets_an_openai_style_400(
    default_app: httpx.AsyncClient, change: dict[str, Any], param: str, code: str
) -> None:
    body = {"source": BOTTLE_EN, "translation": "不锈钢水瓶。", "target_language": "zh"}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    assert_error(await default_app.post(CHECKS, json=body), 400, code, param=param)
