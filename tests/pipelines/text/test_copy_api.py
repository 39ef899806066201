"""POST /v1/copywriting: structured copy per language that always validates against the
published schema, or fails clearly after a bounded number of attempts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.spec import ModelSpec
from pipelines.text.copywriting import JSON_PREFILL
from pipelines.text.copywriting_checks import extract_json, repair
from pipelines.text.copywriting_schema import GENERATION_SCHEMA
from tests.fixtures_jobs import JobsClient, auth, scripted_spec, system_prompts, wait_for_job
from tests.fixtures_server import assert_error

jsonschema = pytest.importorskip("jsonschema")

PRODUCT = {
    "name": "Yiwu Star steel bottle",
    "category": "drinkware",
    "materials": ["stainless steel"],
    "sizes": ["500 ml", "750 ml"],
    "colors": ["black", "silver"],
    "price": "USD 12.99",
    "moq": 100,
    "keywords": ["insulated", "gift"],
    "features": ["leak-proof lid", "double-wall"],
    "transcript": "This bottle keeps your coffee hot all day.",
}
COPY_EN: dict[str, Any] = {
    "title": "Yiwu Star Insulated Steel Bottle 500 ml",
    "selling_points": ["Keeps drinks cold", "Leak-proof lid", "Gift-ready box"],
    "description": "A double-wall stainless steel bottle for every day, only $12.99.",
    "video_script": [
        {"visual": "Bottle on a desk", "voiceover": "Meet your new bottle."},
        {"visual": "Ice cubes", "voiceover": "Cold all day."},
    ],
}
COPY_ZH = {
    "title": "义乌之星不锈钢保温瓶 500毫升",
    "selling_points": ["长效保冷", "防漏杯盖", "礼盒包装"],
    "description": "双层不锈钢保温瓶，日常使用的好伙伴。",
    "video_script": [{"visual": "桌上的水瓶", "voiceover": "认识你的新水瓶。"}],
}
# a small model's slips that repair undoes: prose around the JSON, another key name, a list
# written as one string, script lines as plain strings, a trailing comma
SLOPPY_EN = (
    "Sure! Here is your copy:\n```json\n"
    '{"title": "Yiwu Star Steel Bottle", "sellingPoints": "- Keeps drinks cold\\n- Leak-proof\\n'
    '- Gift box", "description": "Steel bottle.", "video_script": ["Meet the bottle.", '
    '"Cold all day."],}\n```'
)


# what the English copy says in Chinese, for the merchant (the back-translation calls)
READINGS = {
    COPY_EN["title"]: "义乌之星保温不锈钢瓶 500毫升",
    "Keeps drinks cold": "让饮料保持冰凉",
    "Leak-proof lid": "防漏盖",
    "Gift-ready box": "礼品盒包装",
    COPY_EN["description"]: "一款日常使用的双层不锈钢瓶，仅售12.99美元。",
    "Meet your new bottle.": "认识你的新水瓶。",
    "Cold all day.": "全天保冷。",
}


def _is_translation(messages: list[dict[str, Any]]) -> bool:
    return str(messages[0]["content"]).startswith("Translate")


def _facts_of(messages: list[dict[str, Any]]) -> str:
    return str(messages[-1]["content"])


def _language_of(messages: list[dict[str, Any]]) -> str:
    return str(messages[0]["content"]).split("Write everything in ")[1].split(" (")[0]


async def test_copy_validates_against_the_published_schema(jobs_client: JobsClient) -> None:
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        if _is_translation(messages):
            return READINGS[user]
        return json.dumps(COPY_ZH if _language_of(messages).startswith("Chinese") else COPY_EN)

    async with jobs_client([scripted_spec(responder, stats=stats)]) as client:
        schema = (await client.get("/v1/copywriting/schema", headers=auth("shop-a"))).json()
        response = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "target_languages": ["en", "zh-CN"]},
            headers=auth("shop-a"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        jsonschema.validate(body, schema)
        assert [c["language"] for c in body["copies"]] == ["en", "zh"]
        assert body["copies"][1]["title"] == COPY_ZH["title"]
        # each English line read back in Chinese; the Chinese copy is read as it is written
        english, chinese = (copy["back_translation"] for copy in body["copies"])
        assert english == {
            "title": READINGS[COPY_EN["title"]],
            "selling_points": [READINGS[point] for point in COPY_EN["selling_points"]],
            "description": READINGS[COPY_EN["description"]],
            "video_script": [READINGS[line["voiceover"]] for line in COPY_EN["video_script"]],
        }
        assert chinese["title"] == COPY_ZH["title"]
        assert (body["preset"], body["tone"]) == (
            "marketplace_listing",
            "clear, trustworthy and concrete",
        )
        facts = _facts_of(stats["calls"][0][0])
        for fact in ("Yiwu Star steel bottle", "USD 12.99", "black, silver", "100", "coffee hot"):
            assert fact in facts
        # without guided decoding the answer is started as JSON for the model
        assert stats["prefills"][0] == JSON_PREFILL and stats["calls"][0][1].json_schema is None


async def test_sloppy_or_prose_answers_are_repaired_or_retried(jobs_client: JobsClient) -> None:
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return "What a lovely bottle! It is great." if attempt == 0 else SLOPPY_EN

    async with jobs_client([scripted_spec(responder, stats=stats)]) as client:
        response = await client.post(
            "/v1/copywriting", json={"product": PRODUCT}, headers=auth("shop-a")
        )
        assert response.status_code == 200, response.text
        copy = response.json()["copies"][0]
        assert copy["selling_points"] == ["Keeps drinks cold", "Leak-proof", "Gift box"]
        assert copy["video_script"][1] == {"visual": "", "voiceover": "Cold all day."}
        first, retry = system_prompts(stats, _facts_of(stats["calls"][0][0]))
        assert "rejected" not in first and "rejected" in retry


async def test_guided_decoding_gets_the_schema(jobs_client: JobsClient) -> None:
    stats: dict[str, Any] = {}
    spec = scripted_spec(lambda *_: json.dumps(COPY_EN), stats=stats, json_schema=True)
    async with jobs_client([spec]) as client:
        response = await client.post(
            "/v1/copywriting", json={"product": PRODUCT}, headers=auth("shop-a")
        )
        assert response.status_code == 200, response.text
        assert stats["calls"][0][1].json_schema == GENERATION_SCHEMA
        assert stats["prefill"] == ""


async def test_copy_that_never_validates_fails_clearly_after_bounded_attempts(
    jobs_client: JobsClient,
) -> None:
    stats: dict[str, Any] = {}
    invalid = json.dumps({**COPY_EN, "selling_points": ["only one"]})
    async with jobs_client([scripted_spec(lambda *_: invalid, stats=stats)]) as client:
        response = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "target_languages": ["en"], "max_attempts": 2},
            headers=auth("shop-a"),
        )
        error = assert_error(response, 422, "copy_validation_failed")
        assert "English" in error["message"] and "selling_points" in error["message"]
        assert len(stats["calls"]) == 2


async def test_copy_written_only_in_another_language_is_translated_line_by_line(
    jobs_client: JobsClient,
) -> None:
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return READINGS[user] if _is_translation(messages) else json.dumps(COPY_EN)

    async with jobs_client([scripted_spec(responder, stats=stats)]) as client:
        response = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "target_languages": ["zh"], "max_attempts": 2},
            headers=auth("shop-a"),
        )
    assert response.status_code == 200, response.text
    (copy,) = response.json()["copies"]
    # both attempts wrote good English: that copy, translated with the translation checks
    assert copy["written"] == "translated" and copy["title"] == READINGS[COPY_EN["title"]]
    assert copy["selling_points"] == [READINGS[point] for point in COPY_EN["selling_points"]]
    assert "12.99" in copy["description"]
    assert [line["visual"] for line in copy["video_script"]] == ["Bottle on a desk", "Ice cubes"]
    assert len(stats["calls"]) == 2 + len(READINGS)


async def test_wrong_language_and_invented_prices_are_rejected(jobs_client: JobsClient) -> None:
    invented = json.dumps({**COPY_EN, "description": "Now only $9.99, was $12.99!"})

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return json.dumps(COPY_EN) if attempt < 2 else json.dumps(COPY_ZH)

    async with jobs_client([scripted_spec(responder)]) as client:
        wrong_language = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "target_languages": ["zh"], "max_attempts": 2},
            headers=auth("shop-a"),
        )
        message = assert_error(wrong_language, 422, "copy_validation_failed")["message"]
        assert "not written in Chinese" in message
    async with jobs_client([scripted_spec(lambda *_: invented)]) as client:
        priced = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "max_attempts": 1},
            headers=auth("shop-a"),
        )
        assert "$9.99" in assert_error(priced, 422, "copy_validation_failed")["message"]


async def test_facts_the_product_does_not_give_are_retried_on_then_removed_and_reported(
    jobs_client: JobsClient,
) -> None:
    stats: dict[str, Any] = {}
    invented = {
        **COPY_EN,
        "title": f"{COPY_EN['title']}, FDA approved",
        "selling_points": [*COPY_EN["selling_points"], "24-month shelf life"],
        "description": f"{COPY_EN['description']} Made in China for durability.",
    }
    async with jobs_client([scripted_spec(lambda *_: json.dumps(invented), stats=stats)]) as client:
        response = await client.post(
            "/v1/copywriting", json={"product": PRODUCT, "max_attempts": 2}, headers=auth("shop-a")
        )
        assert response.status_code == 200, response.text
        copy = response.json()["copies"][0]
        assert copy["title"] == PRODUCT["name"]  # in the copy's script: it stands in
        assert copy["selling_points"] == COPY_EN["selling_points"]
        assert copy["description"] == COPY_EN["description"]
        assert [(u["field"], u["fact"], u["action"]) for u in copy["ungrounded"]] == [
            ("title", "FDA", "removed"),
            ("selling_points", "24-month", "removed"),
            ("selling_points", "shelf life", "removed"),
            ("description", "Made in China", "removed"),
        ]
        first, retry = system_prompts(stats, _facts_of(stats["calls"][0][0]))
        assert "shelf life" not in first and "'24-month', 'shelf life'" in retry


async def test_presets_and_bad_requests(jobs_client: JobsClient) -> None:
    async with jobs_client([scripted_spec(lambda *_: json.dumps(COPY_EN))]) as client:
        presets = (await client.get("/v1/copywriting/presets", headers=auth("shop-a"))).json()
        assert {"marketplace_listing", "social_short_video", "b2b_catalogue"} <= set(
            presets["presets"]
        )
        unknown = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "preset": "billboard"},
            headers=auth("shop-a"),
        )
        error = assert_error(unknown, 400)
        assert error["param"] == "preset" and "b2b_catalogue" in error["message"]
        no_name = await client.post(
            "/v1/copywriting", json={"product": {"price": "1"}}, headers=auth("shop-a")
        )
        assert assert_error(no_name, 400)["param"] == "product.name"
        b2b = await client.post(
            "/v1/copywriting",
            json={"product": PRODUCT, "preset": "b2b_catalogue", "tone": "luxury"},
            headers=auth("shop-a"),
        )
        assert b2b.json()["tone"] == "refined, premium and calm"


async def test_copywriting_runs_as_a_job(jobs_client: JobsClient) -> None:
    async with jobs_client([scripted_spec(lambda *_: json.dumps(COPY_EN))]) as client:
        created = await client.post(
            "/v1/jobs",
            json={"type": "copywriting", "input": {"product": PRODUCT, "target_languages": ["en"]}},
            headers=auth("shop-a"),
        )
        assert created.status_code == 200, created.text
        job = await wait_for_job(client, created.json()["id"], "shop-a")
        assert job["state"] == "succeeded", job["error"]
        artifact = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/copy.json", headers=auth("shop-a")
        )
        assert artifact.headers["content-type"] == "application/json"
        schema = (await client.get("/v1/copywriting/schema", headers=auth("shop-a"))).json()
        jsonschema.validate(artifact.json(), schema)


async def test_tiny_real_model_gives_valid_copy_or_a_clear_failure(
    jobs_client: JobsClient, tiny_chat_spec: ModelSpec
) -> None:
    async with jobs_client([tiny_chat_spec]) as client:
        response = await client.post(
            "/v1/copywriting",
            json={
                "product": PRODUCT,
                "target_languages": ["en"],
                "max_attempts": 2,
                "max_tokens": 48,
            },
            headers=auth("shop-a"),
        )
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:
            assert response.json()["error"]["code"] == "copy_validation_failed"
        else:
            schema = (await client.get("/v1/copywriting/schema", headers=auth("shop-a"))).json()
            jsonschema.validate(response.json(), schema)


def test_json_is_found_and_repaired_in_chatty_answers() -> None:
    data = repair(extract_json(SLOPPY_EN))
    assert set(data) == {"title", "selling_points", "description", "video_script"}
    assert extract_json('{"a": "{not a brace}"} trailing') == {"a": "{not a brace}"}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("just prose")


def test_a_voiceover_too_long_for_one_line_becomes_lines_cut_between_sentences() -> None:
    zh = "这款不锈钢保温杯容量500毫升，保冷24小时。" * 30  # 660 characters in one line
    en = "It keeps drinks cold for 24 hours at USD 3.20. " * 12
    for long in (zh, en):
        data = repair({"video_script": [{"visual": "the bottle", "voiceover": long}]})
        lines = [line["voiceover"] for line in data["video_script"]]
        assert len(lines) == 2 and all(len(line) <= 400 for line in lines)
        # the same words, none lost and "3.20" not cut at its point
        assert "".join(lines).replace(" ", "") == long.replace(" ", "")
        assert all(line["visual"] == "the bottle" for line in data["video_script"])
