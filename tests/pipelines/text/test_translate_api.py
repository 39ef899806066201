"""POST /v1/translations, glossaries and translation jobs over HTTP.

A scripted model checks that the verifier catches broken translations and retries a bounded
number of times; the tiny real transformers model runs the real path end to end.
"""

from __future__ import annotations

import json
import re
from typing import Any

from models.spec import ModelSpec
from pipelines.text.guardrails import missing_tokens
from tests.fixtures_jobs import JobsClient, auth, scripted_spec, system_prompts, wait_for_job
from tests.fixtures_server import assert_error

SOURCE = "Only $12.99 for 2 bottles of Yiwu Star, SKU AB-1234."
GOOD_DE = "Nur $12.99 für 2 Flaschen von Yiwu Star, SKU AB-1234."
BAD_DE = "Nur 12,99 $ für zwei Flaschen von Yiwu Stern, SKU AB1234."
GLOSSARY = [{"term": "Yiwu Star", "translations": {"zh": "义乌之星"}}, {"term": "AB-1234"}]


def target_of(messages: list[dict[str, Any]]) -> str:
    found = re.search(r"into ([^(]+) \(", messages[0]["content"])
    assert found
    return found.group(1).strip()


async def test_lost_numbers_and_terms_are_caught_and_retried(jobs_client: JobsClient) -> None:
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return BAD_DE if attempt == 0 else GOOD_DE

    async with jobs_client([scripted_spec(responder, stats=stats)]) as client:
        response = await client.post(
            "/v1/translations",
            json={
                "text": SOURCE,
                "target_languages": "de",
                "glossary_entries": [{"term": "Yiwu Star"}],
            },
            headers=auth("shop-a"),
        )
        assert response.status_code == 200, response.text
        item = response.json()["translations"][0]
        assert (item["status"], item["text"], item["attempts"]) == ("ok", GOOD_DE, 2)
        assert item["source_language"] == "en"
        first, retry = system_prompts(stats, SOURCE)
        assert "'AB-1234'" in first and "Keep 'Yiwu Star' unchanged" in first
        assert "rejected" not in first
        for problem in ("price '$12.99'", "number '2'", "sku 'AB-1234'", "must keep 'Yiwu Star'"):
            assert problem in retry


async def test_a_segment_that_never_passes_is_reported_never_returned(
    jobs_client: JobsClient,
) -> None:
    stats: dict[str, Any] = {}
    async with jobs_client([scripted_spec(lambda *_: BAD_DE, stats=stats)]) as client:
        body = {"text": SOURCE, "target_languages": ["de"], "max_attempts": 2}
        failed = await client.post("/v1/translations", json=body, headers=auth("shop-a"))
        error = assert_error(failed, 422, "translation_check_failed")
        assert "segment 0" in error["message"] and "sku 'AB-1234'" in error["message"]
        assert len(stats["calls"]) == 2  # bounded by max_attempts
        reported = await client.post(
            "/v1/translations", json={**body, "on_failure": "report"}, headers=auth("shop-a")
        )
        assert reported.status_code == 200
        item = reported.json()["translations"][0]
        assert item["status"] == "failed" and item["text"] is None
        failure = item["failures"][0]
        assert failure["source"] == SOURCE and failure["output"] == BAD_DE
        assert any("sku 'AB-1234'" in p for p in failure["problems"])
        assert reported.json()["failed"] == 1


async def test_stored_glossary_maps_terms_per_language_and_is_private(
    jobs_client: JobsClient,
) -> None:
    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        if target_of(messages).startswith("Chinese"):
            brand = "Yiwu Star" if attempt == 0 else "义乌之星"
            return f"只需$12.99即可购买2瓶{brand}，型号AB-1234。"
        return GOOD_DE

    async with jobs_client([scripted_spec(responder)]) as client:
        put = await client.put(
            "/v1/glossaries/brand", json={"entries": GLOSSARY}, headers=auth("shop-a")
        )
        assert put.status_code == 200, put.text
        assert put.json()["entries"][0]["translations"] == {"zh": "义乌之星"}
        response = await client.post(
            "/v1/translations",
            json={"text": SOURCE, "target_languages": ["zh", "de"], "glossary": "brand"},
            headers=auth("shop-a"),
        )
        assert response.status_code == 200, response.text
        zh, de = response.json()["translations"]
        assert (zh["target_language"], zh["attempts"]) == ("zh", 2)
        assert "义乌之星" in zh["text"] and "Yiwu Star" not in zh["text"]
        assert de["text"] == GOOD_DE and de["attempts"] == 1
        other = await client.post(
            "/v1/translations",
            json={"text": SOURCE, "target_languages": ["zh"], "glossary": "brand"},
            headers=auth("shop-b"),
        )
        assert_error(other, 400, "glossary_not_found")


async def test_glossary_endpoints_store_per_tenant(jobs_client: JobsClient) -> None:
    async with jobs_client() as client:
        a, b = auth("shop-a"), auth("shop-b")
        assert (
            await client.put("/v1/glossaries/brand", json={"entries": GLOSSARY}, headers=a)
        ).status_code == 200
        assert (await client.get("/v1/glossaries/brand", headers=a)).json()["name"] == "brand"
        assert [
            g["name"] for g in (await client.get("/v1/glossaries", headers=a)).json()["data"]
        ] == ["brand"]
        assert (await client.get("/v1/glossaries", headers=b)).json()["data"] == []
        assert_error(await client.get("/v1/glossaries/brand", headers=b), 404, "glossary_not_found")
        bad = await client.put(
            "/v1/glossaries/brand",
            json={"entries": [{"term": "x", "translations": {"xx": "y"}}]},
            headers=a,
        )
        assert assert_error(bad, 400, "invalid_glossary")["param"] == "entries.0.translations"
        assert_error(await client.put("/v1/glossaries/a%20b", json={"entries": []}, headers=a), 400)
        assert (await client.delete("/v1/glossaries/brand", headers=a)).json()["deleted"] is True
        assert_error(await client.get("/v1/glossaries/brand", headers=a), 404)


async def test_reasoning_is_stripped_before_the_checks(jobs_client: JobsClient) -> None:
    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        return f"<think>German, keep $12.99 and AB-1234. Price 99.</think>\n\n{GOOD_DE}"

    async with jobs_client([scripted_spec(responder)]) as client:
        response = await client.post(
            "/v1/translations",
            json={"text": SOURCE, "target_languages": ["de"]},
            headers=auth("shop-a"),
        )
        assert response.json()["translations"][0]["text"] == GOOD_DE


async def test_long_batches_are_segmented_translated_concurrently_and_kept_in_order(
    jobs_client: JobsClient,
) -> None:
    words = {"Item": "Artikel", "is": "ist", "red": "rot", "blue": "blau", "and": "und"}
    stats: dict[str, Any] = {}

    def responder(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
        suffix = " [fr]" if target_of(messages) == "French" else ""
        return re.sub(r"[A-Za-z]+", lambda m: words.get(m[0], m[0]), user) + suffix

    sentences = " ".join(f"Item {n} is red and blue." for n in range(40))
    texts = [sentences, "Item 7 is blue.\n\nItem 8 is red."]
    # a context this small forces each long text into several segments
    spec = scripted_spec(responder, stats=stats, context_length=320)
    async with jobs_client([spec]) as client:
        response = await client.post(
            "/v1/translations",
            json={"text": texts, "source_language": "en", "target_languages": ["de", "fr"]},
            headers=auth("shop-a"),
        )
        assert response.status_code == 200, response.text
        items = response.json()["translations"]
        assert [(i["index"], i["target_language"]) for i in items] == [
            (0, "de"), (0, "fr"), (1, "de"), (1, "fr")
        ]  # fmt: skip
        assert items[0]["segments"] > 3
        expected = " ".join(f"Artikel {n} ist rot und blau." for n in range(40))
        assert items[0]["text"] == expected
        assert items[2]["text"] == "Artikel 7 ist blau.\n\nArtikel 8 ist rot."
        assert items[3]["text"] == "Artikel 7 ist blau. [fr]\n\nArtikel 8 ist rot. [fr]"
        assert stats["max_in_flight"] > 1


async def test_unknown_languages_are_refused_with_the_supported_list(
    jobs_client: JobsClient,
) -> None:
    async with jobs_client([scripted_spec(lambda *_: GOOD_DE)]) as client:
        bad = await client.post(
            "/v1/translations",
            json={"text": "Hi", "target_languages": ["de", "xx"]},
            headers=auth("shop-a"),
        )
        error = assert_error(bad, 400)
        assert error["param"] == "target_languages.1"
        assert (
            "Unsupported language 'xx'" in error["message"]
            and "zh, zh-Hant, en" in error["message"]
        )
        bad_source = await client.post(
            "/v1/translations",
            json={"text": "Hi", "source_language": "klingon", "target_languages": ["de"]},
            headers=auth("shop-a"),
        )
        assert assert_error(bad_source, 400)["param"] == "source_language"
        listed = (await client.get("/v1/languages", headers=auth("shop-a"))).json()["data"]
        assert len(listed) >= 36
        arabic = next(lang for lang in listed if lang["code"] == "ar")
        assert (arabic["direction"], arabic["native"], arabic["whisper"]) == (
            "rtl",
            "العربية",
            True,
        )


async def test_translation_runs_as_a_job_with_artifacts(jobs_client: JobsClient) -> None:
    async with jobs_client([scripted_spec(lambda *_: GOOD_DE)]) as client:
        await client.put("/v1/glossaries/brand", json={"entries": GLOSSARY}, headers=auth("shop-a"))
        created = await client.post(
            "/v1/jobs",
            json={
                "type": "translation",
                "input": {"text": SOURCE, "target_languages": ["de"], "glossary": "brand"},
            },
            headers=auth("shop-a"),
        )
        assert created.status_code == 200, created.text
        # the glossary was inlined at submission: the job no longer depends on the stored one
        assert created.json()["input"]["glossary_entries"][0]["term"] == "Yiwu Star"
        assert created.json()["input"]["model"] == "scripted"
        job = await wait_for_job(client, created.json()["id"], "shop-a")
        assert job["state"] == "succeeded", job["error"]
        assert job["result"]["translations"][0]["text"] == GOOD_DE
        names = {a["name"] for a in job["artifacts"]}
        assert names == {"translation.json", "translation-0.de.txt"}
        text = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/translation-0.de.txt", headers=auth("shop-a")
        )
        assert text.text == GOOD_DE and text.headers["content-type"].startswith("text/plain")
        bad = await client.post(
            "/v1/jobs",
            json={
                "type": "translation",
                "input": {"text": "x", "target_languages": ["de"], "glossary": "none"},
            },
            headers=auth("shop-a"),
        )
        assert_error(bad, 400, "glossary_not_found")


async def test_tiny_real_model_gives_a_verified_translation_or_a_clear_failure(
    jobs_client: JobsClient, tiny_chat_spec: ModelSpec
) -> None:
    """Random weights write garbage: the outcome must be a reported check failure, not a crash,
    and anything reported as ok must have kept every number, price and SKU."""
    spec = tiny_chat_spec.model_copy(
        update={"options": {**tiny_chat_spec.options, "context_length": 512}}
    )
    async with jobs_client([spec]) as client:
        body: dict[str, Any] = {
            "text": [SOURCE, "这款保温杯售价¥99。"],
            "target_languages": ["de", "zh"],
            "max_attempts": 2,
        }
        strict = await client.post("/v1/translations", json=body, headers=auth("shop-a"))
        assert strict.status_code in (200, 422), strict.text
        if strict.status_code == 422:
            assert strict.json()["error"]["code"] == "translation_check_failed"
        report = await client.post(
            "/v1/translations", json={**body, "on_failure": "report"}, headers=auth("shop-a")
        )
        assert report.status_code == 200, report.text
        sources = [SOURCE, "这款保温杯售价¥99。"]
        for item in report.json()["translations"]:
            assert item["attempts"] <= 2 * item["segments"]
            if item["status"] == "ok":
                assert missing_tokens(sources[item["index"]], item["text"]) == []
            else:
                assert item["text"] is None and all(f["problems"] for f in item["failures"])
        created = await client.post(
            "/v1/jobs", json={"type": "translation", "input": body}, headers=auth("shop-a")
        )
        job = await wait_for_job(client, created.json()["id"], "shop-a", timeout_s=120)
        assert job["state"] in ("succeeded", "failed")
        if job["state"] == "failed":
            assert job["error"]["code"] == "translation_check_failed"
        report_file = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/translation.json", headers=auth("shop-a")
        )
        assert len(json.loads(report_file.text)["translations"]) == 4
