"""The operator's pages: admin sessions only (a tenant gets a 403 page that shows nothing of
them), keys made (shown once) and revoked (its browsers locked out at once), quotas edited,
usage as an SVG chart and a table, the audit log naming the operator; zh_CN and en."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from models.spec import ModelSpec
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.accounts.types import UsageRow
from server.console.usage_chart import daily_amounts, days_between, usage_chart
from tests.fixtures_console import sign_in
from tests.fixtures_jobs import build_app, serve_in_process
from tests.fixtures_tenancy import Deployment, tenancy_settings, write_config

SVG = "{http://www.w3.org/2000/svg}"
KEY = re.compile(r"ls-([0-9a-f]{12})-[A-Za-z0-9_-]{43}")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
PAGES = (
    "/operator",
    "/operator/tenants",
    "/operator/tenants/shop-a/quotas",
    "/operator/usage",
    "/operator/audit",
)


# --- the chart, a pure function ----------------------------------------------------------------
def _rows() -> list[UsageRow]:
    return [
        UsageRow("shop-a", "2025-03-01", "prompt_tokens", 100),
        UsageRow("shop-a", "2025-03-01", "completion_tokens", 20),
        UsageRow("<b>&shop", "2025-03-03", "prompt_tokens", 50),
        UsageRow("shop-a", "2025-03-03", "jobs_created", 2),
        UsageRow("shop-a", "2025-02-27", "prompt_tokens", 999),  # outside the period
    ]


def test_usage_chart_is_valid_svg_with_a_bar_group_per_day_and_escaped_tenants() -> None:
    days = days_between(datetime(2025, 3, 1).date(), datetime(2025, 3, 3).date())
    svg = usage_chart(_rows(), days, "tokens", label='Tokens "&" more')
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == 'Tokens "&" more'
    groups = root.findall(f"{SVG}g")
    assert [g.get("data-day") for g in groups] == days
    bars = {g.get("data-day"): g.findall(f"{SVG}rect") for g in groups}
    assert [b.get("data-tenant") for b in bars["2025-03-01"]] == ["shop-a"]
    assert bars["2025-03-02"] == []  # nothing used that day
    (odd,) = bars["2025-03-03"]
    assert odd.get("data-tenant") == "<b>&shop" and "<b>" not in svg
    assert odd.findtext(f"{SVG}title") == "<b>&shop · 2025-03-03: 50"
    assert all("style" not in el.attrib for el in root.iter())
    heights = {b.get("data-tenant"): float(b.get("height", 0)) for bs in bars.values() for b in bs}
    assert heights["shop-a"] > heights["<b>&shop"] > 0  # 120 tokens against 50


def test_usage_chart_sums_the_metrics_of_the_chosen_series_only() -> None:
    days = ["2025-03-01", "2025-03-03"]
    assert daily_amounts(_rows(), days, "tokens") == {
        "<b>&shop": [0.0, 50.0],
        "shop-a": [120.0, 0.0],
    }
    assert daily_amounts(_rows(), days, "jobs") == {"<b>&shop": [0.0, 0.0], "shop-a": [0.0, 2.0]}
    empty = ET.fromstring(usage_chart([], days, "video_seconds"))
    assert not list(empty.iter(f"{SVG}rect"))
    with pytest.raises(ValueError, match="unknown chart metric"):
        usage_chart(_rows(), days, "bytes")


# --- the pages over HTTP ---------------------------------------------------------------------
@dataclass
class Site:
    deployment: Deployment
    accounts: AccountService
    clients: list[httpx.AsyncClient]
    app: object

    def browser(self) -> httpx.AsyncClient:
        """A client of its own (its own cookie jar): one more browser."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),  # type: ignore[arg-type]
            base_url="http://localhost",
        )
        self.clients.append(client)
        return client

    async def operator(self) -> tuple[httpx.AsyncClient, str]:
        client = self.browser()
        return client, await sign_in(client, self.deployment.keys["control-room"], "/operator")


@asynccontextmanager
async def running_site(tmp_path: Path) -> AsyncIterator[Site]:
    weights_missing = ModelSpec(
        id="tiny-chat", kind="chat", backend="scripted", path="not-pulled", licence="apache-2.0"
    )
    settings = tenancy_settings(tmp_path, [weights_missing])
    deployment = Deployment(settings, write_config(settings, tmp_path / "config.yaml"))
    for tenant in ("shop-a", "secret-shop-b"):
        await deployment.create_key(tenant)
    await deployment.create_key("control-room", "--admin")
    app = build_app(settings)
    async with serve_in_process(app) as client:
        deployment.client = client
        site = Site(deployment, app.state.services.accounts, [], app)
        try:
            yield site
        finally:
            for browser in site.clients:
                await browser.aclose()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


def _key_id(site: Site, tenant: str) -> str:
    found = KEY.fullmatch(site.deployment.keys[tenant])
    assert found
    return found.group(1)


async def test_every_operator_page_renders_in_english_and_chinese(site: Site) -> None:
    browser, _ = await site.operator()
    await site.accounts.record_usage("shop-a", {"prompt_tokens": 7})
    expected = {
        "/operator": ("Server overview", "服务器概览"),
        "/operator/tenants": ("Create a key", "创建密钥"),
        "/operator/tenants/shop-a/quotas": ("Quotas of shop-a", "shop-a 的配额"),
        "/operator/usage": ("Usage per tenant and day", "各租户每日用量"),
        "/operator/audit": ("Audit log", "审计日志"),
    }
    for path, (english, chinese) in expected.items():
        en = await browser.get(path)
        assert en.status_code == 200 and english in en.text, path
        zh = await browser.get(path, headers=ZH)
        assert zh.status_code == 200 and chinese in zh.text and english not in zh.text, path
        assert 'lang="zh-CN"' in zh.text

    overview = (await browser.get("/operator")).text
    assert 'data-ready="false"' in overview and 'id="missing-weights"' in overview
    assert 'data-model="tiny-chat"' in overview and "apache-2.0" in overview
    tenants = (await browser.get("/operator/tenants")).text
    for tenant in ("shop-a", "secret-shop-b", "control-room"):
        assert f'data-tenant="{tenant}"' in tenants
        assert f'data-key-id="{_key_id(site, tenant)}"' in tenants
    assert "your key" in tenants  # the operator sees which key their session uses


async def test_a_tenant_session_gets_a_403_page_that_shows_no_operator_data(site: Site) -> None:
    browser = site.browser()
    csrf = await sign_in(browser, site.deployment.keys["shop-a"], "/signin")
    secrets = ["secret-shop-b", "control-room", _key_id(site, "secret-shop-b")]
    secrets.append(_key_id(site, "control-room"))
    for path in PAGES:
        for headers in ({}, ZH):
            page = await browser.get(path, headers=headers)
            assert page.status_code == 403, path
            assert 'data-code="admin_required"' in page.text
            assert not [s for s in secrets if s in page.text], path
            assert 'href="/operator"' not in page.text  # no menu entry either
    posts = {
        "/operator/keys": {"tenant": "shop-a", "admin": "true"},
        f"/operator/keys/{_key_id(site, 'secret-shop-b')}/revoke": {},
        "/operator/tenants/shop-a/quotas": {"requests_per_minute": "100000"},
    }
    for path, form in posts.items():
        refused = await browser.post(path, data=form, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and 'data-code="admin_required"' in refused.text
    assert len(await site.accounts.list_keys()) == 3
    assert all(k.revoked_at is None for k in await site.accounts.list_keys())
    assert await site.accounts.quota_overrides("shop-a") == {}


async def test_a_new_key_is_shown_once_signs_in_and_is_locked_out_when_revoked(
    site: Site,
) -> None:
    browser, csrf = await site.operator()
    made = await browser.post(
        "/operator/keys",
        data={"tenant": "shop-new", "label": "web shop", "csrf_token": csrf},
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    key_match = KEY.search(made.text)
    assert key_match and 'id="copy-key"' in made.text
    assert "it will not be shown again" in made.text
    key, key_id = key_match.group(0), key_match.group(1)
    listed = (await browser.get("/operator/tenants")).text
    assert f'data-key-id="{key_id}"' in listed and key not in listed and "web shop" in listed

    merchant = site.browser()
    await sign_in(merchant, key, "/signin")
    assert (await merchant.get("/operator")).status_code == 403  # signed in, not an operator

    revoked = await browser.post(
        f"/operator/keys/{key_id}/revoke",
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert revoked.status_code == 200 and revoked.text.lstrip().startswith('<section id="tenants"')
    assert re.search(rf'data-key-id="{key_id}" data-revoked="true"', revoked.text)
    locked_out = await merchant.get("/operator")
    assert locked_out.status_code == 303
    assert locked_out.headers["location"].startswith("/signin?next=/operator")
    assert (await merchant.post("/signin", data={"key": key})).status_code == 401

    log = (await browser.get("/operator/audit", params={"tenant": "shop-new"})).text
    actor = f"key:{_key_id(site, 'control-room')}"
    actions = re.findall(r'class="audit-row" data-action="([^"]+)"', log)
    assert actions == ["key.revoked", "session.opened", "key.created"]  # newest first
    assert actor in log and 'data-tenant="shop-a"' not in log


async def test_creating_a_key_with_htmx_swaps_in_the_key_and_the_tenant_list(site: Site) -> None:
    browser, csrf = await site.operator()
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    made = await browser.post(
        "/operator/keys", data={"tenant": "ops-2", "admin": "true"}, headers=htmx
    )
    assert made.status_code == 200 and "<html" not in made.text
    assert 'id="new-key"' in made.text and '<section id="tenants" hx-swap-oob="true">' in made.text
    assert 'data-tenant="ops-2"' in made.text
    (record,) = [k for k in await site.accounts.list_keys("ops-2")]
    assert record.is_admin

    bad = await browser.post("/operator/keys", data={"tenant": "no spaces!"}, headers=htmx)
    assert bad.status_code == 400 and 'data-code="invalid_tenant"' in bad.text
    assert "<html" not in bad.text and "64 letters" in bad.text
    zh = await browser.post("/operator/keys", data={"tenant": "-x"}, headers={**htmx, **ZH})
    assert "租户名称" in zh.text


async def test_quotas_are_edited_as_the_operator_and_read_back(site: Site) -> None:
    browser, csrf = await site.operator()
    form = {
        "csrf_token": csrf,
        "requests_per_minute": "30",
        "concurrent_jobs": "",
        "storage_bytes": "",
        "unlimited": ["storage_bytes", "retention_s"],
        "max_upload_bytes": "1000000",
    }
    saved = await browser.post("/operator/tenants/shop-a/quotas", data=form)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/operator/tenants/shop-a/quotas?saved=true"
    api = await site.deployment.http.get(
        "/v1/admin/tenants/shop-a/quotas", headers=site.deployment.auth("control-room")
    )
    assert api.json()["overrides"] == {
        "requests_per_minute": 30,
        "max_upload_bytes": 1000000,
        "storage_bytes": None,
        "retention_s": None,
    }
    page = (await browser.get(saved.headers["location"])).text
    assert 'id="quotas-saved"' in page
    assert 'id="quota-requests_per_minute" name="requests_per_minute" type="number"' in page
    assert 'value="30"' in page and re.search(r'id="unlimited-storage_bytes"[^>]*checked', page)
    assert not re.search(r'id="unlimited-concurrent_jobs"[^>]*checked', page)

    again = await browser.post(
        "/operator/tenants/shop-a/quotas", data={"csrf_token": csrf, "concurrent_jobs": "2"}
    )
    assert again.status_code == 303  # the form is the whole set: the others are defaults again
    assert await site.accounts.quota_overrides("shop-a") == {"concurrent_jobs": 2}

    refused = await browser.post(
        "/operator/tenants/shop-a/quotas",
        data={"concurrent_jobs": "0"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert refused.status_code == 400 and 'data-code="invalid_quota"' in refused.text
    hx_saved = await browser.post(
        "/operator/tenants/shop-a/quotas",
        data={"concurrent_jobs": "3"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert hx_saved.headers["hx-redirect"].endswith("?saved=true")
    (event, *_) = await site.accounts.audit_log("shop-a")
    assert event.action == "quota.updated"
    assert event.actor == f"key:{_key_id(site, 'control-room')}"


async def test_operator_posts_need_the_sessions_csrf_token(site: Site) -> None:
    browser, _ = await site.operator()
    key_id = _key_id(site, "shop-a")
    for path, form in {
        "/operator/keys": {"tenant": "shop-x"},
        f"/operator/keys/{key_id}/revoke": {},
        "/operator/tenants/shop-a/quotas": {"concurrent_jobs": "1"},
    }.items():
        for token in (None, "forged"):
            sent = form if token is None else {**form, "csrf_token": token}
            refused = await browser.post(path, data=sent)
            assert refused.status_code == 403 and 'data-code="csrf_failed"' in refused.text
    assert await site.accounts.list_keys("shop-x") == []
    assert (await site.accounts.list_keys("shop-a"))[0].revoked_at is None
    assert await site.accounts.quota_overrides("shop-a") == {}


async def test_usage_page_charts_the_chosen_metric_with_the_numbers_as_a_table(
    site: Site,
) -> None:
    browser, _ = await site.operator()
    now = time.time()
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    await site.accounts.record_usage("shop-a", {"prompt_tokens": 100, "completion_tokens": 23})
    await site.accounts.record_usage("secret-shop-b", {"prompt_tokens": 5})
    await site.accounts.record_usage("shop-a", {"audio_seconds_synthesized": 2.5}, at=now)
    await site.accounts.record_usage("shop-a", {"prompt_tokens": 9}, at=now - 20 * 86400)

    page = await browser.get("/operator/usage")
    assert page.status_code == 200
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg
    chart = ET.fromstring(svg.group(0))
    assert len(chart.findall(f"{SVG}g")) == 14  # the default period: the last 14 days
    assert [r.get("data-tenant") for r in chart.iter(f"{SVG}rect")] == ["secret-shop-b", "shop-a"]
    table = page.text[page.text.index('id="usage-table"') :]
    row = re.search(rf'<tr data-day="{today}">(.*?)</tr>', table, re.S)
    assert row and re.findall(r">([\d,.]+)</td>", row.group(1)) == ["5", "123", "128"]
    assert 'class="swatch series-1"' in page.text  # the legend matches the bars' classes

    audio = await browser.get("/operator/usage", params={"metric": "audio_seconds"})
    assert ">2.5</td>" in audio.text and 'data-metric="audio_seconds"' in audio.text
    month = await browser.get(
        "/operator/usage", params={"start": "2000-01-01", "end": "2000-01-31"}
    )
    assert 'id="usage-empty"' in month.text
    backwards = await browser.get("/operator/usage", params={"start": today, "end": "2000-01-01"})
    assert backwards.status_code == 400 and 'data-code="invalid_period"' in backwards.text
    unknown = await browser.get("/operator/usage", params={"metric": "bytes"})
    assert unknown.status_code == 400
