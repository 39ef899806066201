"""The console in a real browser (Debian's Chromium, driven by Playwright) on a real server
process running the shipped default config on real weights: what a merchant and an operator do,
with every request kept on 127.0.0.1 and the page policy refusing nothing.

Screenshots go to tests/artifacts/screenshots/ (CI keeps them; README's come from there).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from pipelines.settings import DEFAULT_CONFIG, load_settings
from tests.fixtures_browser import GuardedPage, guarded_page
from tests.fixtures_jobs import KEYS, ServerProcess
from tests.fixtures_real import models_cache_dir
from tests.fixtures_video import ffprobe, make_clip

pytestmark = [pytest.mark.real_weights, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
ADMIN_KEY = "sk-operator-console-test"
SHOP_KEY = KEYS["shop-a"]
JOB_S = 600_000  # ms a dub may take on 2 CI cores: a bound, not a measure
PAGE_S = 30_000
NARRATION = (
    "Meet our new stainless steel bottle. It keeps water cold for a whole day. "
    "The lid is leak proof."
)
# words of 4+ Latin letters a Chinese merchant page may show: names, formats, and the job types
# the test server adds (tests.fixtures_jobs), which have no translated label
LATIN_ALLOWED = re.compile(
    r"localshang|shop-[a-z]|JSON|slow|fragile|[a-z]{2,3}-([A-Z]{2}|[A-Z][a-z]{3})"
)
# the page's text but what is marked as another language (a language's own name: Español) and
# examples of the merchant's own data (code, pre)
SHOWN_IN_CHINESE = """() => {
  const main = document.querySelector("main").cloneNode(true);
  main.querySelectorAll("[lang]:not([lang^=zh]), code, pre").forEach((e) => e.remove());
  document.body.append(main);
  const text = main.innerText;
  main.remove();
  return text;
}"""
MERCHANT_PAGES = ("/dub", "/jobs", "/translate", "/copywriting", "/glossaries")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console_server(
    qwen_default_dir: Path,
    whisper_base_dir: Path,
    kokoro_spec: Any,
    piper_voice_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServerProcess]:
    """`make serve` as a merchant runs it: the default config, its real weights, with keys."""
    tmp = tmp_path_factory.mktemp("console")
    settings = load_settings(DEFAULT_CONFIG, model_dir=models_cache_dir(), data_dir=tmp / "data")
    settings.registry.preload = []
    server = ServerProcess(tmp, settings=settings, admin_key=ADMIN_KEY)
    await server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.log()[-6000:])  # shown by pytest when a test of the module failed


async def _sign_in(page: Page, server: ServerProcess, key: str) -> None:
    await page.goto(f"{server.url}/dub")
    await expect(page).to_have_url(re.compile(r"/signin\?next=/dub"))
    await page.fill("#key", key)
    await page.click("form[action='/signin'] button[type=submit]")
    await expect(page).to_have_url(f"{server.url}/dub", timeout=PAGE_S)


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _clean(guarded: GuardedPage) -> None:
    assert guarded.outside == [], guarded.outside
    assert guarded.console_errors == [], guarded.console_errors  # CSP refused nothing


async def _wait_finished(page: Page) -> str:
    job = page.locator("#job-state")  # inside the fragment each server-sent event replaces
    await expect(job).to_have_attribute(
        "data-state", re.compile("succeeded|failed|cancelled"), timeout=JOB_S
    )
    state = await job.get_attribute("data-state")
    assert state is not None
    return state


async def test_a_merchant_dubs_previews_edits_redubs_and_downloads(
    console_server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "bottle.mp4", seconds=8.0, speech=NARRATION)
    async with guarded_page(browser, locale="zh-CN") as guarded:
        page = guarded.page
        await _sign_in(page, console_server, SHOP_KEY)
        await expect(page.locator("h1")).to_have_text("视频配音")
        await page.set_input_files("#dub-files", str(clip))
        await page.check("input[name=mode][value=script]")
        for code in ("zh", "en"):
            await page.check(f"input[name=languages][value={code}]")
        await page.fill("#dub-keywords", "stainless steel bottle, keeps cold 24 hours")
        await page.fill("#dub-facts", "500 ml, double wall vacuum")
        await _shot(page, "dub-form-zh")
        await page.click("#dub-submit")
        link = page.locator("li.dub-result.created a.job-link")
        await expect(link).to_have_count(1, timeout=PAGE_S)
        await link.click()
        await expect(page).to_have_url(re.compile(r"/jobs/job_[0-9a-f]+$"))
        job_url = page.url

        # progress survives a reload: the page renders from the stored job and reconnects
        await expect(page.locator("#progress")).to_be_visible()
        await expect(page.locator("#stages li.stage-done")).not_to_have_count(0, timeout=JOB_S)
        await _shot(page, "job-running-zh")
        await page.reload()
        await expect(page.locator("#progress")).to_be_visible()
        assert await _wait_finished(page) == "succeeded"
        await _shot(page, "job-zh")

        for code in ("zh", "en"):
            section = page.locator(f".dub-language[data-language={code}]")
            verdict = section.locator(".qa-verdict")
            await expect(verdict).to_have_attribute("data-verdict", re.compile("pass|review|fail"))
            video = section.locator("video.preview")
            await expect(video.locator("track")).to_have_count(1)
            # the browser loaded the preview (Range requests through the session's cookie)
            await page.wait_for_function(
                "v => v.readyState >= 1 && v.duration > 7", arg=await video.element_handle()
            )

        # edit one English line, re-dub: a new job; the first one stays
        await page.click("#edit-subtitles")
        await expect(page).to_have_url(re.compile(r"/jobs/job_[0-9a-f]+/edit$"))
        first = page.locator(".editor-language[data-language=en] tr.cue .cue-text").first
        await first.fill("Our steel bottle keeps water cold all day.")
        await expect(page.locator("#redub")).to_be_enabled()
        await _shot(page, "edit-zh")
        await page.click("#redub")
        await expect(page).not_to_have_url(job_url, timeout=PAGE_S)
        await expect(page).to_have_url(re.compile(r"/jobs/job_[0-9a-f]+$"), timeout=PAGE_S)
        assert await _wait_finished(page) == "succeeded"

        async def download(name: str) -> bytes:
            link = page.locator(f"a[download][data-file='{name}']")
            response = await page.request.get(
                console_server.url + (await link.get_attribute("href") or "")
            )
            assert response.ok, (name, response.status)
            return await response.body()

        mp4 = tmp_path / "en.mp4"
        mp4.write_bytes(await download("en.mp4"))
        probed = ffprobe(mp4)
        assert abs(float(probed["format"]["duration"]) - 8.0) < 0.5, probed["format"]
        srt = (await download("en.srt")).decode()
        assert "Our steel bottle keeps water cold" in srt.replace("\n", " ")
        earlier = await page.request.get(job_url)
        assert earlier.ok  # the earlier version is still there
        _clean(guarded)


async def test_translate_shows_the_translation_and_its_checks(
    console_server: ServerProcess, browser: Browser
) -> None:
    async with guarded_page(browser, locale="en-US") as guarded:
        page = guarded.page
        await _sign_in(page, console_server, SHOP_KEY)
        await page.goto(f"{console_server.url}/translate")
        await page.fill("#translate-text", "Stainless steel bottle, 500 ml, USD 3.20, MOQ 500 pcs")
        for box in await page.locator("#translate-targets input:checked").all():
            await box.uncheck()
        await page.check("#translate-targets input[name=target_languages][value=zh]")
        await page.click("#translate-submit")
        card = page.locator("article#translation-zh")
        await expect(card).to_have_attribute("data-status", "ok", timeout=JOB_S)
        text = await page.locator("#translation-text-zh").inner_text()
        assert re.search(r"[\u4e00-\u9fff]", text) and "3.20" in text, text
        kept = card.locator("li.check[data-check=kept]")
        await expect(kept).to_have_attribute("data-ok", "true")
        await _shot(page, "translate-result-en")
        _clean(guarded)


async def test_copywriting_gives_a_card_per_language(
    console_server: ServerProcess, browser: Browser
) -> None:
    async with guarded_page(browser, locale="zh-CN") as guarded:
        page = guarded.page
        await _sign_in(page, console_server, SHOP_KEY)
        await page.goto(f"{console_server.url}/copywriting")
        await page.fill("#copy-name", "Stainless steel bottle")
        await page.fill("#copy-form [name=features]", "keeps drinks cold 24 hours\nleak-proof lid")
        for box in await page.locator("#copy-targets input:checked").all():
            await box.uncheck()
        await page.check("#copy-targets input[value=en]")
        await page.click("#copy-submit")
        await expect(page.locator("article#copy-en")).to_be_visible(timeout=JOB_S)
        title = await page.locator("#copy-en-title").inner_text()
        assert "bottle" in title.lower(), title
        await _shot(page, "copywriting-result-zh")
        _clean(guarded)


async def test_an_operator_hands_out_a_key_and_revokes_it(
    console_server: ServerProcess, browser: Browser
) -> None:
    async with guarded_page(browser, locale="en-US") as operator:
        page = operator.page
        await _sign_in(page, console_server, ADMIN_KEY)
        await page.goto(f"{console_server.url}/operator/tenants")
        await page.fill("#new-key-tenant", "shop-c")
        await page.fill("#new-key-label", "Yiwu booth 12")
        await page.click("#create-key button[type=submit]")
        new_key = await page.locator("#new-key").input_value()
        assert new_key.startswith("ls-")
        await _shot(page, "operator-key-en")

        async with guarded_page(browser, locale="zh-CN") as merchant:
            await _sign_in(merchant.page, console_server, new_key)
            await expect(merchant.page.locator(".who")).to_contain_text("shop-c")

            key_id = await page.locator("#new-key-card").get_attribute("data-key-id")
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.click(f"tr.key-row[data-key-id='{key_id}'] button.revoke")
            await expect(page.locator(f"tr.key-row[data-key-id='{key_id}']")).to_have_attribute(
                "data-revoked", "true", timeout=PAGE_S
            )
            await merchant.page.reload()
            await expect(merchant.page).to_have_url(re.compile(r"/signin\?next=/dub&expired=1"))
            await expect(merchant.page.locator(".notice")).to_contain_text("登录已过期")
            _clean(merchant)

        await page.goto(f"{console_server.url}/operator/usage")
        # a chart once a tenant has used something (the other tests of the module do)
        await expect(page.locator("svg.usage-chart, #usage-empty").first).to_be_visible()
        await _shot(page, "operator-usage-chart-en")
        _clean(operator)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
async def test_every_page_renders_in_both_languages(
    console_server: ServerProcess, browser: Browser, locale: str
) -> None:
    """Each page in each language: no request leaves, the policy refuses nothing, and a Chinese
    page shows no English words but names, formats and the user's own data."""
    pages = [
        "/dub",
        "/jobs",
        "/translate",
        "/copywriting",
        "/glossaries",
        "/operator",
        "/operator/tenants",
        "/operator/usage",
        "/operator/audit",
    ]
    async with guarded_page(browser, locale=locale) as guarded:
        page = guarded.page
        await _sign_in(page, console_server, ADMIN_KEY)
        for path in pages:
            response = await page.goto(f"{console_server.url}{path}")
            assert response is not None and response.ok, path
            if locale == "zh-CN" and path in MERCHANT_PAGES:
                text = await page.evaluate(SHOWN_IN_CHINESE)
                english = [
                    w for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", text)
                    if not LATIN_ALLOWED.fullmatch(w)
                ]  # fmt: skip
                assert not english, (path, english[:10])
            slug = path.strip("/").replace("/", "-")
            await _shot(page, f"{slug}-{locale.split('-')[0]}")
        _clean(guarded)
