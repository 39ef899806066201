"""The merchant's text tools in the console: /translate shows each translation with the checks it
passed, /copywriting a card per language, /glossaries creates, edits and deletes through the
same store as /v1/glossaries; errors come back in the viewer's language.

The scripted chat model answers as a test needs (a good German translation, a Chinese one that
loses the SKU); one test runs the tiny real transformers model through the same page.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.spec import ModelSpec
from pipelines.languages import load_languages
from pipelines.text.glossary import parse_entries
from pipelines.text.settings import TextSettings
from server.console.glossaries import format_lines, parse_lines
from server.console.text_checks import problem_kind
from tests.fixtures_console import sign_in
from tests.fixtures_jobs import (
    KEYS,
    Responder,
    auth,
    build_app,
    job_test_settings,
    scripted_spec,
    serve_in_process,
)

SOURCE = "Only $12.99 for 2 bottles of Yiwu Star, SKU AB-1234."
GOOD = {
    "German": "Nur $12.99 für 2 Flaschen von Yiwu Star, SKU AB-1234.",
    # the price changed: rejected (a changed SKU is repaired now, a number never is)
    "Chinese": "只需 $12.49 即可购买 2 瓶义乌之星，型号 AB-1234。",
}
COPY: dict[str, dict[str, Any]] = {
    "English": {
        "title": "Yiwu Star Insulated Steel Bottle",
        "selling_points": ["Keeps drinks cold", "Leak-proof lid", "Gift-ready box"],
        "description": "A double-wall stainless steel bottle for every day.",
        "video_script": [{"visual": "Bottle on a desk", "voiceover": "Meet your new bottle."}],
    },
    "Chinese": {
        "title": "义乌之星不锈钢保温瓶",
        "selling_points": ["长效保冷", "防漏杯盖", "礼盒包装"],
        "description": "双层不锈钢保温瓶，日常使用的好伙伴。",
        "video_script": [{"visual": "桌上的水瓶", "voiceover": "认识你的新水瓶。"}],
    },
}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def answer(user: str, messages: list[dict[str, Any]], attempt: int) -> str:
    """A translation or copy in the language the system prompt asks for."""
    system = str(messages[0]["content"])
    if "copywriter" in system:
        language = system.split("Write everything in ")[1].split(" (")[0]
        return json.dumps(COPY["Chinese" if language.startswith("Chinese") else "English"])
    target = re.search(r"into ([^(]+) \(", system)
    assert target
    return GOOD["Chinese" if target.group(1).startswith("Chinese") else "German"]


class Console:
    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def post(
        self, path: str, data: dict[str, Any], *, htmx: bool = True, locale: str = "en", **kw: Any
    ) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **(ZH if locale == "zh" else EN)}
        if htmx:
            headers["HX-Request"] = "true"
        return await self.client.post(path, data=data, headers=headers, **kw)


@asynccontextmanager
async def console(
    tmp: Path, responder: Responder = answer, tenant: str = "shop-a", **options: Any
) -> AsyncIterator[Console]:
    text = options.pop("text", None)
    settings = job_test_settings(tmp, [scripted_spec(responder, **options)])
    if text is not None:
        settings = settings.model_copy(update={"text": text})
    async with serve_in_process(build_app(settings)) as client:
        yield Console(client, await sign_in(client, KEYS[tenant], "/translate"))


def card(page: str, element_id: str) -> str:
    """The HTML of the <article id=element_id> in `page`."""
    found = re.search(rf'<article[^>]*id="{element_id}".*?</article>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return found.group(0)


def checks_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-check="(\w+)" data-ok="(\w+)"', html))


@pytest.mark.parametrize(
    ("path", "english", "chinese"),
    [
        ("/translate", "Text to translate", "要翻译的文本"),
        ("/copywriting", "Product name", "商品名称"),
        ("/glossaries", "New glossary", "新建术语表"),
    ],
)
async def test_each_page_renders_in_english_and_chinese(
    tmp_path: Path, path: str, english: str, chinese: str
) -> None:
    async with console(tmp_path) as c:
        en = await c.client.get(path, headers=EN)
        zh = await c.client.get(path, headers=ZH)
    assert en.status_code == zh.status_code == 200, en.text
    assert english in en.text and chinese not in en.text
    assert chinese in zh.text and english not in zh.text
    assert 'lang="zh-CN"' in zh.text


async def test_translate_shows_each_translation_with_the_checks_it_passed(
    tmp_path: Path,
) -> None:
    async with console(tmp_path) as c:
        saved = await c.post(
            "/glossaries",
            {"name": "brand", "entries": "Yiwu Star | zh=义乌之星\nAB-1234", "create": "true"},
        )
        assert saved.headers["HX-Redirect"] == "/glossaries/brand?saved=1", saved.text
        form = {"text": SOURCE, "target_languages": ["de", "zh"], "glossary": "brand"}
        fragment = await c.post("/translate", form, locale="zh")
        page = await c.post("/translate", form, htmx=False)
    assert fragment.status_code == 200, fragment.text
    assert "<html" not in fragment.text  # htmx gets the result only
    german = card(fragment.text, "translation-de")
    assert 'data-status="ok"' in german and GOOD["German"] in german
    assert 'data-copy="#translation-text-de"' in german and "复制" in german
    assert checks_of(german) == dict.fromkeys(["kept", "glossary", "language", "clean"], "true")
    assert "$12.99 · 2 · AB-1234" in german and "Yiwu Star" in german
    chinese = card(fragment.text, "translation-zh")
    assert 'data-status="failed"' in chinese and "translation-text-zh" not in chinese
    assert checks_of(chinese) == {
        "kept": "false",
        "glossary": "true",
        "language": "true",
        "clean": "true",
    }
    assert "price &#39;$12.99&#39;" in chinese  # the pipeline's own words under the check
    assert "Yiwu Star → 义乌之星" in chinese and GOOD["Chinese"] in chinese  # the rejected try
    assert "数字、价格、尺码和编号保持不变" in chinese
    # without htmx: the whole page, the form as it was sent, the results under it
    assert page.status_code == 200 and "<html" in page.text
    assert card(page.text, "translation-de") and SOURCE in page.text
    assert re.search(r'value="zh" checked', page.text)


async def test_an_english_product_line_is_not_translated_into_english(tmp_path: Path) -> None:
    """ "Written in: detect automatically" finds English in a line without a function word (the
    scripted model would answer German if it were asked)."""
    line = "Wireless earbuds, Bluetooth 5.3, 30 hours battery life"
    async with console(tmp_path) as c:
        shown = await c.post("/translate", {"text": line, "target_languages": ["en", "de"]})
    assert shown.status_code == 200, shown.text
    english = card(shown.text, "translation-en")
    assert line in english and GOOD["German"] not in english
    assert "The text is in this language already" in english
    assert GOOD["German"] in card(shown.text, "translation-de")


async def test_copywriting_shows_a_card_per_language_with_copy_buttons(tmp_path: Path) -> None:
    form = {
        "name": "Yiwu Star steel bottle",
        "materials": "stainless steel，silicone",
        "keywords": "insulated, gift",
        "features": "Keeps drinks cold for 24 hours\n\nLeak-proof",
        "preset": "social_short_video",
        "tone": "warm",
        "target_languages": ["en", "zh"],
    }
    async with console(tmp_path) as c:
        fragment = await c.post("/copywriting", form)
    assert fragment.status_code == 200, fragment.text
    english, chinese = card(fragment.text, "copy-en"), card(fragment.text, "copy-zh")
    assert COPY["English"]["title"] in english and "Leak-proof lid" in english
    assert "义乌之星不锈钢保温瓶" in chinese and "认识你的新水瓶。" in chinese
    # the English read back beside each field; the Chinese is the merchant's own language
    for field in ("title", "selling_points", "description", "video_script"):
        assert f'data-reading="{field}"' in english
    assert "data-reading" not in chinese
    for field in ("title", "points", "description", "script"):
        assert f'id="copy-zh-{field}"' in chinese
        assert f'data-copy="#copy-zh-{field}"' in chinese


async def test_a_glossary_is_created_edited_and_deleted_through_the_api_store(
    tmp_path: Path,
) -> None:
    async with console(tmp_path) as c:
        created = await c.post(
            "/glossaries", {"name": "shop", "entries": "Yiwu Star | de=Yiwu Stern", "create": "1"}
        )
        assert created.status_code == 200 and created.headers["HX-Redirect"]
        edit = await c.client.get("/glossaries/shop?saved=1", headers=ZH)
        assert "Yiwu Star | de=Yiwu Stern" in edit.text and 'id="glossary-saved"' in edit.text
        again = await c.post(
            "/glossaries", {"name": "shop", "entries": "x", "create": "1"}, locale="zh"
        )
        assert again.status_code == 409 and 'data-code="glossary_exists"' in again.text
        edited = await c.post("/glossaries", {"name": "shop", "entries": "AB-1234 | case=any"})
        assert edited.status_code == 200, edited.text
        api = await c.client.get("/v1/glossaries/shop", headers=auth("shop-a"))
        assert api.json()["entries"] == [
            {"term": "AB-1234", "translations": {}, "case_sensitive": False}
        ]
        listed = await c.client.get("/glossaries")
        assert 'id="glossary-row-shop"' in listed.text
        assert "/translate?glossary=shop" in listed.text
        row = await c.client.post(
            "/glossaries/shop/delete",
            headers={
                "X-CSRF-Token": c.csrf,
                "HX-Request": "true",
                "HX-Target": "glossary-row-shop",
            },
        )
        assert row.status_code == 200 and row.text == ""  # the row is swapped out
        assert (
            await c.client.get("/v1/glossaries/shop", headers=auth("shop-a"))
        ).status_code == 404
        gone = await c.client.get("/glossaries/shop", headers=ZH)
        assert gone.status_code == 404 and 'data-code="glossary_not_found"' in gone.text


async def test_glossaries_are_the_tenants_own(tmp_path: Path) -> None:
    async with console(tmp_path, tenant="shop-b") as c:
        await c.client.put(
            "/v1/glossaries/private", json={"entries": [{"term": "A"}]}, headers=auth("shop-a")
        )
        listed = await c.client.get("/glossaries")
        assert "private" not in listed.text and 'id="glossary-none"' in listed.text
        assert (await c.client.get("/glossaries/private")).status_code == 404
        used = await c.post(
            "/translate", {"text": "A cup", "target_languages": "de", "glossary": "private"}
        )
        assert 'data-code="glossary_not_found"' in used.text


async def test_unsafe_requests_need_the_sessions_csrf_token(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        body = {"text": SOURCE, "target_languages": "de"}
        refused = await c.client.post("/translate", data=body, headers=ZH)
        assert refused.status_code == 403 and "页面已过期" in refused.text
        forged = await c.client.post(
            "/glossaries", data={"name": "x", "entries": "a", "csrf_token": "forged"}
        )
        assert forged.status_code == 403
        elsewhere = await c.client.post(
            "/translate",
            data=body,
            headers={"X-CSRF-Token": c.csrf, "Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        as_field = await c.client.post("/translate", data=body | {"csrf_token": c.csrf})
        assert as_field.status_code == 200 and "translation-de" in as_field.text
        assert (await c.client.get("/v1/glossaries", headers=auth("shop-a"))).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "form", "code", "chinese"),
    [
        ("/translate", {"text": "  ", "target_languages": "de"}, "text_empty", "请输入"),
        ("/translate", {"text": "x" * 5001, "target_languages": "de"}, "text_too_long", "太长"),
        ("/translate", {"text": "Cup"}, "no_target_language", "请至少选择一种语言"),
        (
            "/translate",
            {"text": "Cup", "target_languages": "xx"},
            "unsupported_language",
            "不支持该语言",
        ),
        (
            "/translate",
            {"text": "Cup", "target_languages": load_languages().codes()[:40]},
            "too_much_work",
            "工作量太大",
        ),
        ("/glossaries", {"name": "a b", "entries": "x"}, "invalid_glossary_name", "术语表名称"),
        (
            "/glossaries",
            {"name": "ok", "entries": "Star | zh"},
            "invalid_glossary",
            "术语表的某一行",
        ),
        (
            "/glossaries",
            {"name": "ok", "entries": "Star | xx=y"},
            "invalid_glossary",
            "术语表的某一行",
        ),
        (
            "/copywriting",
            {"name": " ", "target_languages": "en"},
            "product_name_empty",
            "请输入商品名称",
        ),
        (
            "/copywriting",
            {"name": "Cup", "target_languages": "en", "preset": "nope"},
            "unknown_preset",
            "请从列表中选择",
        ),
        (
            "/copywriting",
            {"name": "Cup" * 100, "target_languages": "en"},
            "invalid_product",
            "商品信息",
        ),
    ],
)
async def test_bad_input_is_explained_in_the_viewers_language(
    tmp_path: Path, path: str, form: dict[str, Any], code: str, chinese: str
) -> None:
    async with console(tmp_path) as c:
        fragment = await c.post(path, form, locale="zh")
        page = await c.post(path, form, htmx=False, locale="zh")
    assert fragment.status_code == page.status_code == 400, fragment.text
    assert f'data-code="{code}"' in fragment.text and chinese in fragment.text
    assert "<html" not in fragment.text and "<html" in page.text and chinese in page.text


async def test_work_past_the_time_budget_is_stopped_and_explained(tmp_path: Path) -> None:
    text = TextSettings(direct_timeout_s=0.2)
    async with console(tmp_path, delay_s=30.0, text=text) as c:
        stopped = await c.post("/translate", {"text": "Cup", "target_languages": "de"}, locale="zh")
    assert stopped.status_code == 504 and 'data-code="timeout"' in stopped.text
    assert "耗时太长" in stopped.text


async def test_the_tiny_real_model_runs_through_the_page(
    tmp_path: Path, tiny_chat_spec: ModelSpec
) -> None:
    """Whatever a random tiny model writes, the page shows a result and its checks."""
    settings = job_test_settings(tmp_path, [tiny_chat_spec])
    async with serve_in_process(build_app(settings)) as client:
        csrf = await sign_in(client, KEYS["shop-a"], "/translate")
        shown = await client.post(
            "/translate",
            data={"text": "Steel bottle, 500 ml", "target_languages": "de"},
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        )
    assert shown.status_code == 200, shown.text
    german = card(shown.text, "translation-de")
    assert set(checks_of(german)) >= {"kept", "language", "clean"}


def test_the_line_format_round_trips_and_files_problems_under_their_check() -> None:
    text = "Yiwu Star | zh=义乌之星 | de=Yiwu Stern\n\nAB-1234\nsteel cup | case=any"
    entries = parse_lines(text)
    assert entries[2] == {"term": "steel cup", "translations": {}, "case_sensitive": False}
    assert format_lines(parse_entries(entries)) == text.replace("\n\n", "\n")
    assert parse_lines('[{"term": "A"}]') == [{"term": "A"}]
    assert problem_kind("lost or changed sku 'AB-1234'") == "kept"
    assert problem_kind("glossary: must keep 'Yiwu Star'") == "glossary"
    assert problem_kind("written in English, not German") == "language"
    assert problem_kind("cut off at the token limit") == "clean"
