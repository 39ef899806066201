"""A web page must not reach the merchant's server: a foreign Host (DNS rebinding) gets 421, a
request from a page of another origin 403, a purge needs a JSON body naming its tenant, the
keyless console session goes to this computer's own pages only, a trusted proxy's scheme counts,
and no request is answered as "no keys" while the accounts are closed.

Curl and the SDKs (no Origin, a loopback or allowed Host) go on working unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from tests.fixtures_server import AppClient, assert_error, make_settings

KEY = "sk-shop-a-request-guard-test"
SHOP_A = {"Authorization": f"Bearer {KEY}"}
KEYS = [{"key": KEY, "tenant": "shop-a"}]
GLOSSARY = {"entries": [{"term": "Yiwu Star", "translations": {"zh": "义乌之星"}}]}
EVIL = "http://evil.example"


async def glossaries(client: httpx.AsyncClient, **headers: str) -> list[str]:
    listed = await client.get("/v1/glossaries", headers=headers)
    assert listed.status_code == 200, listed.text
    return [glossary["name"] for glossary in listed.json()["data"]]


async def test_a_keyless_server_answers_only_loopback_names_and_allowed_hosts(
    app_client: AppClient,
) -> None:
    async with app_client([]) as client:
        for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
            assert (await client.get("/v1/jobs", headers={"Host": host})).status_code == 200
        # what a browser sends once the attacker's name resolves to 127.0.0.1
        for host in (
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "[::2]",
            "[::1",
        ):
            for method in ("GET", "POST"):
                rebound = await client.request(method, "/v1/purge", headers={"Host": host})
                error = assert_error(rebound, 421, "host_not_allowed", param=None)
                assert "server.allowed_hosts" in error["message"]
        # probes answer a load balancer that names the node by its address; they hold no data
        assert (await client.get("/health", headers={"Host": "10.0.0.11:8000"})).status_code == 200
    async with app_client([], allowed_hosts=["shop-pc.lan"]) as client:
        assert (
            await client.get("/v1/jobs", headers={"Host": "shop-pc.lan:8000"})
        ).status_code == 200
        assert (await client.get("/v1/jobs", headers={"Host": "localhost"})).status_code == 200
        refused = await client.get("/v1/jobs", headers={"Host": "evil.example"})
        assert_error(refused, 421, "host_not_allowed")


async def test_with_keys_any_host_is_answered_until_allowed_hosts_are_set(
    app_client: AppClient,
) -> None:
    async with app_client([], api_keys=KEYS) as client:
        named = {"Host": "api.shop.example"}
        assert (await client.get("/v1/jobs", headers=named | SHOP_A)).status_code == 200
        assert_error(await client.get("/v1/jobs", headers=named), 401, "missing_api_key")
    async with app_client([], api_keys=KEYS, allowed_hosts=["api.shop.example"]) as client:
        for host in ("api.shop.example", "API.shop.example:443", "127.0.0.1:8000"):
            answer = await client.get("/v1/jobs", headers={"Host": host} | SHOP_A)
            assert answer.status_code == 200, host
        other = await client.get("/v1/jobs", headers={"Host": "10.0.0.11:8000"} | SHOP_A)
        assert_error(other, 421, "host_not_allowed")


async def test_a_page_of_another_origin_changes_and_reads_nothing(app_client: AppClient) -> None:
    async with app_client([]) as client:
        assert (await client.put("/v1/glossaries/catalogue", json=GLOSSARY)).status_code == 200
        # a hidden form: a form post with no body, and one naming the tenant
        for form in (None, {"tenant": "default"}):
            posted = await client.post("/v1/purge", data=form, headers={"Origin": EVIL})
            assert_error(posted, 403, "cross_site_request", param=None)
        attempts = [
            ("GET", "/v1/jobs", {"Origin": EVIL}),  # a fetch(): refused, not only unreadable
            ("GET", "/v1/glossaries", {"Origin": "null"}),  # a sandboxed frame, a file
            ("DELETE", "/v1/glossaries/catalogue", {"Origin": "http://localhost:9999"}),
            ("PUT", "/v1/glossaries/other", {"Origin": "https://localhost"}),
            ("POST", "/v1/purge", {"Referer": f"{EVIL}/offer.html"}),  # no Origin, a Referer
        ]
        for method, path, headers in attempts:
            answer = await client.request(method, path, json=GLOSSARY, headers=headers)
            assert_error(answer, 403, "cross_site_request")
        assert await glossaries(client) == ["catalogue"]
        # the server's own pages, and clients that are no browser (no Origin), go on working
        same = await client.get("/v1/glossaries", headers={"Origin": "http://localhost"})
        assert same.status_code == 200
    async with app_client([], api_keys=KEYS) as client:
        keyed = await client.post(
            "/v1/purge", json={"tenant": "shop-a"}, headers=SHOP_A | {"Origin": EVIL}
        )
        assert_error(keyed, 403, "cross_site_request")
    async with app_client([], cors_origins=["https://shop.example"]) as client:
        listed = await client.get("/v1/glossaries", headers={"Origin": "https://shop.example"})
        assert listed.headers["access-control-allow-origin"] == "https://shop.example"
        other = await client.get("/v1/glossaries", headers={"Origin": "https://other.example"})
        assert_error(other, 403, "cross_site_request")


async def test_a_purge_needs_a_json_body_that_names_the_tenant(app_client: AppClient) -> None:
    async with app_client([]) as client:
        assert (await client.put("/v1/glossaries/catalogue", json=GLOSSARY)).status_code == 200
        assert_error(await client.post("/v1/purge"), 400)
        assert_error(await client.post("/v1/purge", data={"tenant": "default"}), 400)
        wrong = await client.post("/v1/purge", json={"tenant": "shop-b"})
        assert_error(wrong, 400, "purge_not_confirmed", param="tenant")
        # the operator's purge of another tenant: the body names the tenant of the path
        assert_error(await client.post("/v1/admin/tenants/shop-b/purge"), 400)
        other = await client.post("/v1/admin/tenants/shop-b/purge", json={"tenant": "default"})
        assert_error(other, 400, "purge_not_confirmed", param="tenant")
        assert await glossaries(client) == ["catalogue"]
        purged = await client.post("/v1/purge", json={"tenant": "default"})
        assert purged.status_code == 200, purged.text
        assert purged.json()["glossaries_deleted"] == 1
        assert await glossaries(client) == []


async def test_the_keyless_console_session_goes_only_to_this_computers_own_pages(
    app_client: AppClient,
) -> None:
    async with app_client([], allowed_hosts=["shop-pc.lan"]) as client:
        refusals: list[dict[str, str]] = [
            {"Sec-Fetch-Site": "cross-site"},  # a link or a redirect from another site
            {"Sec-Fetch-Site": "same-site"},  # another port of this host is another origin
            {"Host": "shop-pc.lan:8000"},  # allowed for the API, but not this computer
        ]
        for headers in refusals:
            page = await client.get("/signin", headers=headers)
            assert page.status_code == 403, headers
            assert 'data-code="console_not_local"' in page.text, headers
            assert "localshang_session" not in page.headers.get("set-cookie", ""), headers
        framed = await client.get("/signin", headers={"Origin": EVIL})  # the guard's 403
        assert_error(framed, 403, "cross_site_request")
        for headers in ({}, {"Sec-Fetch-Site": "none"}, {"Sec-Fetch-Site": "same-origin"}):
            opened = await client.get("/signin", headers=headers)
            assert opened.status_code == 303, headers
            assert "localshang_session=" in opened.headers["set-cookie"], headers


@asynccontextmanager
async def from_client(
    tmp_path: Path, address: str, **server: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app whose connections come from `address` (a proxy, or not)."""
    app = create_app(make_settings(tmp_path, [], **server))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api.shop.example"
        ) as client:
            yield client


@pytest.mark.parametrize(("proxy", "trusted"), [("10.0.0.2", True), ("10.0.0.9", False)])
async def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(
    tmp_path: Path, proxy: str, trusted: bool
) -> None:
    """nginx terminates TLS and says so in X-Forwarded-Proto; only a proxy listed in
    server.forwarded_allow_ips is believed."""
    server = {"api_keys": KEYS, "forwarded_allow_ips": ["10.0.0.2"]}
    async with from_client(tmp_path, proxy, **server) as client:
        signed_in = await client.post(
            "/signin",
            data={"key": KEY, "next": "/jobs"},
            headers={
                "Origin": "https://api.shop.example",  # the browser's page is the https one
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "203.0.113.7",
            },
        )
        if trusted:
            assert signed_in.status_code == 303, signed_in.text
            cookie = signed_in.headers["set-cookie"]
            assert cookie.startswith("localshang_session=") and "; secure" in cookie.lower()
        else:  # the request is taken as plain http: its https Origin is another origin
            error = assert_error(signed_in, 403, "cross_site_request")
            assert "server.forwarded_allow_ips" in error["message"]


async def test_no_request_is_answered_as_keyless_while_the_accounts_are_closed(
    tmp_path: Path,
) -> None:
    """Before start-up has opened the database and after shut-down has closed it, "are there
    keys?" has no answer: 503, never the local admin's access."""
    app = create_app(make_settings(tmp_path, []))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        early = await client.get("/v1/glossaries")
        assert_error(early, 503, "accounts_unavailable")
        assert early.headers["retry-after"] == "1"
        async with app.router.lifespan_context(app):
            assert await glossaries(client) == []
        assert_error(await client.get("/v1/glossaries"), 503, "accounts_unavailable")
        rebound = await client.get("/v1/glossaries", headers={"Host": "evil.example"})
        assert_error(rebound, 503, "accounts_unavailable")
