"""Browser fixtures: the system's headless Chromium (`make system` installs it), driven by
Playwright, whose pages may reach loopback only; any other request is refused and recorded.

Playwright's own browser download is not used: its CDN is not reachable from where tests run.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright

from tests import netguard


@dataclass
class GuardedPage:
    """A browser page and what it tried that a page of ours must not."""

    page: Page
    outside: list[str] = field(default_factory=list)  # refused requests to non-loopback hosts
    console_errors: list[str] = field(default_factory=list)  # CSP refusals are reported here


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:  # a failure, not a skip: CI must not pass without the browser tests
        pytest.fail("chromium is not installed; `make system` installs it", pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        yield browser
        await browser.close()


@asynccontextmanager
async def guarded_page(browser: Browser, **context_options: Any) -> AsyncIterator[GuardedPage]:
    """A page in a fresh browser context (`locale="zh-CN"`, ...) whose requests never leave the
    machine: any request to a non-loopback host is refused and recorded."""
    context = await browser.new_context(**context_options)
    guarded = GuardedPage(await context.new_page())

    async def refuse_outside(route: Route) -> None:
        if netguard.is_loopback(urlsplit(route.request.url).hostname or ""):
            await route.continue_()
        else:
            guarded.outside.append(route.request.url)
            await route.abort("blockedbyclient")

    def record_error(message: ConsoleMessage) -> None:
        if message.type == "error":
            guarded.console_errors.append(message.text)

    await context.route("**/*", refuse_outside)  # the context's route sees its workers' requests
    guarded.page.on("console", record_error)
    try:
        yield guarded
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def offline_page(browser: Browser) -> AsyncIterator[GuardedPage]:
    async with guarded_page(browser) as guarded:
        yield guarded
