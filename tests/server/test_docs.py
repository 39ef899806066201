"""/docs and /redoc work offline: they name only the server's own files, carry the pages'
Content-Security-Policy, and render in a browser that may reach loopback only."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from server.app import create_app
from server.routers.docs import REDOC_POLICY
from server.security import CONTENT_SECURITY_POLICY
from tests.fixtures_browser import GuardedPage
from tests.fixtures_server import AppClient, make_settings
from tests.live import live_server

VENDOR = Path(__file__).resolve().parents[2] / "server" / "static" / "vendor"
RENDERED = 30_000  # ms a page may take to render in a slow CI browser: a bound, not a measure


class AssetURLs(HTMLParser):
    """Every URL a page's tags load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [
            v for name, v in attrs if name in {"src", "href", "spec-url", "data-openapi-url"} and v
        ]


def asset_urls(page: str) -> list[str]:
    parser = AssetURLs()
    parser.feed(page)
    return parser.urls


def test_vendored_assets_are_the_published_files_recorded_in_vendored_json() -> None:
    record: dict[str, Any] = json.loads((VENDOR / "vendored.json").read_text())
    for package in record["packages"]:
        folder = VENDOR / package["directory"]
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
        assert files == package["sha256"], package["npm"]
    recorded = {package["directory"] for package in record["packages"]}
    assert {p.name for p in VENDOR.iterdir() if p.is_dir()} == recorded


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_page_names_only_the_servers_own_files(app_client: AppClient, path: str) -> None:
    async with app_client([]) as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://", page.text)
        urls = asset_urls(page.text)
        assert "/openapi.json" in urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            assert (await client.get(url)).status_code == 200, url


async def test_docs_pages_carry_the_page_policy(app_client: AppClient) -> None:
    async with app_client([]) as client:
        docs, redoc = await client.get("/docs"), await client.get("/redoc")
        api = await client.get("/openapi.json")
    assert docs.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    # ReDoc's page adds to the policy only what ReDoc needs, and scripts stay 'self' only
    assert redoc.headers["content-security-policy"] == REDOC_POLICY
    assert "default-src 'self'" in REDOC_POLICY and "script-src" not in REDOC_POLICY
    assert not {"/docs", "/redoc"} & set(api.json()["paths"])


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app, with no models (the pages list the route table), on a loopback port."""
    settings = make_settings(tmp_path_factory.mktemp("docs"), [])
    with live_server(create_app(settings)) as base_url:
        yield base_url


@pytest.mark.asyncio(loop_scope="session")  # the browser's loop
async def test_swagger_ui_lists_the_operations_without_leaving_the_machine(
    docs_server: str, offline_page: GuardedPage
) -> None:
    page = offline_page.page
    await page.goto(f"{docs_server}/docs")
    chat = page.locator('.opblock-summary-path[data-path="/v1/chat/completions"]')
    await expect(chat).to_be_visible(timeout=RENDERED)
    assert await page.locator(".opblock").count() > 10
    assert offline_page.outside == []
    assert offline_page.console_errors == []  # its policy refused nothing


@pytest.mark.asyncio(loop_scope="session")
async def test_redoc_lists_and_searches_the_operations_without_leaving_the_machine(
    docs_server: str, offline_page: GuardedPage
) -> None:
    page = offline_page.page
    await page.goto(f"{docs_server}/redoc")
    menu = page.locator('.menu-content [role="menuitem"][data-item-id^="tag/"]')
    await expect(menu.first).to_be_visible(timeout=RENDERED)
    await page.get_by_placeholder("Search...").fill("chat")  # searched by ReDoc's worker
    found = page.locator('[data-role="search:results"] [data-item-id*="v1_chat_completions"]')
    await expect(found.first).to_be_visible(timeout=RENDERED)
    assert offline_page.outside == []
    # ReDoc 2 always draws Redocly's logo from its CDN: the policy refuses it, nothing else
    refused = [e for e in offline_page.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" in e]
    assert offline_page.console_errors == refused
