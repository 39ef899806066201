"""The console's frame: sign-in (with and without keys), sessions, CSRF, the language switch,
the page policy, and message catalogs that translate every string the console shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from server.console.i18n import LOCALE_DIR, choose_locale
from server.security import CONTENT_SECURITY_POLICY
from tests.fixtures_console import csrf_of, sign_in
from tests.fixtures_server import AppClient, assert_error

CONSOLE = Path(__file__).parents[3] / "server" / "console"
TEMPLATES = CONSOLE / "templates"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def _console_msgids() -> set[str]:
    found = extract_from_dir(
        str(CONSOLE),
        method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={**DEFAULT_KEYWORDS, "N_": None},
    )
    ids = set()
    for _, _, message, _, _ in found:
        ids.update([message] if isinstance(message, str) else [m for m in message if m])
    return ids


def test_every_console_string_has_a_chinese_translation() -> None:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as file:
        translated = {m.id for m in read_po(file) if m.id and m.string and not m.fuzzy}
    ids = _console_msgids()
    assert len(ids) > 20, "the extractor found the console's strings"
    assert not sorted(ids - translated), "untranslated (zh_CN): run `make messages` and translate"


def test_templates_run_no_inline_script_or_style() -> None:
    """default-src 'self' refuses inline scripts, handlers and style attributes: none is used."""
    for template in TEMPLATES.rglob("*.html"):
        html = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template.name
        assert not re.search(r"\son[a-z]+\s*=", html), template.name
        assert not re.search(r"\sstyle\s*=", html), template.name
        assert "<style" not in html, template.name
        assert not re.search(r"(src|href)=\"(https?:)?//", html), template.name


@pytest.mark.parametrize(
    ("chosen", "header", "locale"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR, zh-TW;q=0.5", "zh_CN"),
        (None, "en;q=0.1, zh;q=0.9", "zh_CN"),
        (None, "de, fr", "en"),
        (None, None, "en"),
        ("en", "zh-CN", "en"),
        ("xx", "zh-CN", "zh_CN"),
    ],
)
def test_the_locale_is_the_users_choice_else_the_browsers(
    chosen: str | None, header: str | None, locale: str
) -> None:
    assert choose_locale(chosen, header) == locale


async def test_without_keys_the_local_admin_is_signed_in_at_once(app_client: AppClient) -> None:
    async with app_client([]) as client:
        first = await client.get("/jobs")
        assert first.status_code == 303
        assert first.headers["location"] == "/signin?next=/jobs"
        opened = await client.get(first.headers["location"])
        assert opened.status_code == 303 and opened.headers["location"] == "/jobs"
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = await client.get("/jobs")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert csrf_of(page.text)


async def test_a_key_signs_in_and_the_key_never_reaches_the_browser(
    app_client: AppClient,
) -> None:
    key = "sk-console-test-key-0123456789"
    async with app_client([], api_keys=[{"key": key, "tenant": "shop1"}]) as client:
        form = await client.get("/signin", headers=ZH)
        assert form.status_code == 200
        assert "登录" in form.text and "API 密钥" in form.text
        wrong = await client.post("/signin", data={"key": "sk-wrong", "next": "/jobs"}, headers=ZH)
        assert wrong.status_code == 401
        assert "该密钥无效或已被吊销" in wrong.text
        assert "localshang_session" not in client.cookies
        csrf = await sign_in(client, key, page="/jobs")
        assert key not in client.cookies["localshang_session"]
        page = await client.get("/jobs")
        assert key not in page.text and "shop1" in page.text
        # sign out: the session is gone on the server, not only in this cookie jar
        session = client.cookies["localshang_session"]
        out = await client.post("/signout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 303
        client.cookies.set("localshang_session", session)
        again = await client.get("/jobs")
        assert again.status_code == 303
        assert again.headers["location"] == "/signin?next=/jobs&expired=1"
        notice = await client.get(again.headers["location"], headers=ZH)
        assert "登录已过期" in notice.text


async def test_posts_need_the_csrf_token_and_this_origin(app_client: AppClient) -> None:
    async with app_client([]) as client:
        csrf = await sign_in(client, page="/jobs")
        missing = await client.post("/signout")
        assert missing.status_code == 403 and 'data-code="csrf_failed"' in missing.text
        wrong = await client.post("/signout", headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status_code == 403
        foreign = await client.post(
            "/signout", headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        )
        assert_error(foreign, 403, "cross_site_request")  # server.request_guard's answer
        as_form = await client.post("/signout", data={"csrf_token": csrf})
        assert as_form.status_code == 303


async def test_htmx_requests_of_the_signed_out_are_sent_to_sign_in(app_client: AppClient) -> None:
    async with app_client([], api_keys=[{"key": "sk-some-key-123456789", "tenant": "t"}]) as client:
        answer = await client.get(
            "/jobs", headers={"HX-Request": "true", "HX-Current-URL": "http://test/jobs?state=x"}
        )
        assert answer.status_code == 401
        assert answer.headers["hx-redirect"] == "/signin?next=/jobs"


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/jobs", "/jobs"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
    ],
)
async def test_the_language_switch_goes_back_to_this_server_only(
    app_client: AppClient, target: str, landing: str
) -> None:
    async with app_client([]) as client:
        switched = await client.get("/language/zh_CN", params={"next": target})
        assert switched.status_code == 303 and switched.headers["location"] == landing
        assert client.cookies["localshang_lang"] == "zh_CN"
        await sign_in(client, page="/jobs")
        page = await client.get("/jobs", headers={"Accept-Language": "en"})
        assert 'lang="zh-CN"' in page.text and "退出登录" in page.text


async def test_an_unknown_language_changes_nothing(app_client: AppClient) -> None:
    async with app_client([]) as client:
        switched = await client.get("/language/xx", params={"next": "/jobs"})
        assert switched.status_code == 303
        assert "localshang_lang" not in client.cookies
