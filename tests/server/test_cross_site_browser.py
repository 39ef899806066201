"""A page of another site, open in the browser that runs the console, gets nothing from a keyless
server on this computer, while the console's own pages post as before: its hidden form post to /v1/purge, a no-cors post and a fetch() of
/v1/jobs all fail, and nothing is deleted. Debian's Chromium driven by Playwright; the server
and the other site are two origins on loopback (two ports)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import expect

from server.app import create_app
from tests.fixtures_browser import GuardedPage
from tests.fixtures_server import make_settings
from tests.live import live_server

PAGE_MS = 30_000  # a bound for a slow CI browser, not a measure
GLOSSARY = {"entries": [{"term": "Yiwu Star", "translations": {"zh": "义乌之星"}}]}
# What a hostile page does, as soon as it is opened: read the jobs, post a purge the way a
# page may without asking the server first (text/plain), and leave a form ready to submit.
HOSTILE_PAGE = """<!doctype html>
<html><body>
<form id="purge" method="post" action="{server}/v1/purge">
  <input name="tenant" value="default">
</form>
<script>
window.read = fetch("{server}/v1/jobs").then(
  (answer) => answer.text().then((text) => "read: " + text),
  (error) => "failed: " + error.message);
window.posted = fetch("{server}/v1/purge", {{
  method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{tenant: "default"}})}}).then(() => "sent", (e) => "failed: " + e);
</script>
</body></html>"""


def hostile_site(server: str) -> FastAPI:
    site = FastAPI()

    @site.get("/")
    async def offer() -> HTMLResponse:
        return HTMLResponse(HOSTILE_PAGE.format(server=server))

    return site


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The keyless server (no models: its data is a glossary) and the other site, each on its
    own loopback port."""
    settings = make_settings(tmp_path_factory.mktemp("keyless"), [])
    with live_server(create_app(settings)) as server:
        created = httpx.put(f"{server}/v1/glossaries/catalogue", json=GLOSSARY)
        assert created.status_code == 200, created.text
        with live_server(hostile_site(server)) as other_site:
            yield server, other_site


@pytest.mark.asyncio(loop_scope="session")  # the browser's loop
async def test_a_page_of_another_origin_neither_reads_nor_deletes(
    servers: tuple[str, str], offline_page: GuardedPage
) -> None:
    server, other_site = servers
    page = offline_page.page
    # the merchant's own console posts as before (Chromium sends this server's Origin)
    await page.goto(f"{server}/glossaries")
    await page.fill("#glossary-name", "own-page")
    await page.fill("#glossary-entries", "AB-1234")
    await page.click("#glossary-save")
    await expect(page).to_have_url(f"{server}/glossaries/own-page?saved=1", timeout=PAGE_MS)
    # then, in the same browser, the merchant opens the other site
    await page.goto(other_site)
    assert (await page.evaluate("window.read")).startswith("failed: ")
    await page.evaluate("window.posted")
    async with page.expect_navigation():  # the browser follows the form to the server's answer
        await page.evaluate("document.getElementById('purge').submit()")
    assert page.url == f"{server}/v1/purge"
    assert "cross_site_request" in await page.content()
    listed = httpx.get(f"{server}/v1/glossaries").json()["data"]
    assert sorted(glossary["name"] for glossary in listed) == ["catalogue", "own-page"]
    assert offline_page.outside == []
