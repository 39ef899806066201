"""Tenants and keys over HTTP on the real app: keys made by `localshang keys`, stored only as
salted hashes, revocation, the admin role, isolation between tenants (404, never 403), and
per-tenant quotas (requests per minute, jobs at once, storage, upload size)."""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from tests.fixtures_server import assert_error
from tests.fixtures_tenancy import Deploy, run_cli, tenancy_settings, write_config

KEY = re.compile(r"^ls-([0-9a-f]{12})-([A-Za-z0-9_-]{43})$")


def test_keys_create_shows_the_key_once_and_stores_only_a_salted_hash(tmp_path: Path) -> None:
    config = write_config(tenancy_settings(tmp_path), tmp_path / "config.yaml")
    code, out, err = run_cli(config, "keys", "create", "--tenant", "shop-a", "--label", "web")
    assert code == 0, err
    key = out.strip()
    match = KEY.match(key)
    assert match, out
    key_id, secret = match.groups()
    assert "not shown again" in err

    db = sqlite3.connect(tmp_path / "data" / "jobs.sqlite3")
    (row,) = db.execute("SELECT id, tenant, salt, digest, is_admin FROM api_keys").fetchall()
    db.close()
    assert row[:2] == (key_id, "shop-a") and row[4] == 0
    salt, digest = row[2], row[3]
    assert len(salt) == 16
    assert digest == hmac.new(salt, secret.encode(), hashlib.sha256).digest()
    assert digest != hashlib.sha256(secret.encode()).digest()  # salted, not a plain hash
    for path in tmp_path.joinpath("data").glob("jobs.sqlite3*"):  # the file and its WAL
        assert secret.encode() not in path.read_bytes()

    code, out, _ = run_cli(config, "keys", "list")
    assert code == 0 and key_id in out and "shop-a" in out and secret not in out
    code, out, _ = run_cli(config, "keys", "create", "--tenant", "shop-a")
    assert KEY.match(out.strip()) and out.strip() != key  # a new key each time, never the old


async def test_database_keys_authenticate_and_a_revoked_key_gets_401(
    deploy: Deploy, database_url: str
) -> None:
    async with deploy(keys=(), admin=(), database=database_url) as d:
        # no key anywhere: loopback-only mode, everyone is "default", as before keys existed
        assert (await d.http.get("/v1/jobs")).status_code == 200
        key = await d.create_key("shop-a")  # while the server runs
        assert (await d.http.get("/v1/jobs", headers=d.auth("shop-a"))).status_code == 200
        assert_error(await d.http.get("/v1/jobs"), 401, "missing_api_key")
        wrong = {"Authorization": f"Bearer {key[:-4]}AAAA"}
        assert_error(await d.http.get("/v1/jobs", headers=wrong), 401, "invalid_api_key")
        job = await d.submit("shop-a", steps=1, step_s=0)

        code, _, err = await d.cli("keys", "revoke", key.split("-")[1])
        assert code == 0, err
        for path in ("/v1/jobs", f"/v1/jobs/{job['id']}"):
            assert_error(await d.http.get(path, headers=d.auth("shop-a")), 401, "invalid_api_key")
        # revoking the last key does not fall back to keyless mode
        assert_error(await d.http.get("/v1/jobs"), 401, "missing_api_key")


async def test_admin_endpoints_need_an_admin_key(deploy: Deploy, database_url: str) -> None:
    config_keys = [{"key": "sk-config-admin", "tenant": "ops2", "admin": True}]
    async with deploy(config_keys=config_keys, database=database_url) as d:
        for path in ("/v1/admin/usage", "/v1/admin/tenants", "/v1/admin/audit", "/v1/admin/keys"):
            assert_error(await d.http.get(path, headers=d.auth("shop-a")), 403, "admin_required")
            assert (await d.http.get(path, headers=d.auth("ops"))).status_code == 200
            config_admin = {"Authorization": "Bearer sk-config-admin"}
            assert (await d.http.get(path, headers=config_admin)).status_code == 200
        made = await d.http.post("/v1/admin/keys", json={"tenant": "shop-c"}, headers=d.auth("ops"))
        assert made.status_code == 200, made.text
        key = made.json()["key"]
        assert KEY.match(key) and made.json()["tenant"] == "shop-c"
        listed = (await d.http.get("/v1/admin/keys", headers=d.auth("ops"))).json()["data"]
        assert all(k["key"] is None for k in listed)  # shown once, in the creation answer only
        headers = {"Authorization": f"Bearer {key}"}
        assert (await d.http.get("/v1/usage", headers=headers)).json()["tenant"] == "shop-c"
        revoked = await d.http.delete(f"/v1/admin/keys/{made.json()['id']}", headers=d.auth("ops"))
        assert revoked.json()["revoked"] == [made.json()["id"]]
        assert_error(await d.http.get("/v1/usage", headers=headers), 401, "invalid_api_key")
        audit = (await d.http.get("/v1/admin/audit", headers=d.auth("ops"))).json()["data"]
        actions = [(e["action"], e["tenant"], e["actor"]) for e in audit]
        ops_id = d.keys["ops"].split("-")[1]
        assert ("key.revoked", "shop-c", f"key:{ops_id}") in actions
        assert ("key.created", "shop-c", f"key:{ops_id}") in actions
        assert any(a == "key.created" and actor.startswith("cli") for a, _, actor in actions)


async def test_tenants_see_nothing_of_each_other(deploy: Deploy, database_url: str) -> None:
    async with deploy(database=database_url) as d:
        a, b = d.auth("shop-a"), d.auth("shop-b")
        job = await d.submit("shop-a", steps=1, step_s=0)
        await d.wait_job(job["id"], "shop-a")
        base = f"/v1/jobs/{job['id']}"
        for response in (
            await d.http.get(base, headers=b),
            await d.http.get(f"{base}/events", headers=b),
            await d.http.get(f"{base}/artifacts/prepared.txt", headers=b),
            await d.http.delete(base, headers=b),
        ):
            assert_error(response, 404, "job_not_found")
        glossary = {"entries": [{"term": "AquaPure", "translations": {"de": "AquaPure"}}]}
        put = await d.http.put("/v1/glossaries/brand", json=glossary, headers=a)
        assert put.status_code == 200, put.text
        assert_error(await d.http.get("/v1/glossaries/brand", headers=b), 404, "glossary_not_found")
        assert (await d.http.get("/v1/glossaries", headers=b)).json()["data"] == []
        assert_error(
            await d.http.get("/v1/usage?tenant=shop-a", headers=b), 404, "tenant_not_found"
        )
        assert_error(
            await d.http.get("/v1/usage?tenant=nobody", headers=b), 404, "tenant_not_found"
        )
        assert (await d.http.get("/v1/usage", headers=b)).json()["totals"]["jobs_created"] == 0
        mine = (await d.http.get("/v1/usage?tenant=shop-a", headers=a)).json()
        assert mine["totals"]["jobs_created"] == 1 and mine["storage_bytes"] > 0
        operator = await d.http.get("/v1/usage?tenant=shop-a", headers=d.auth("ops"))
        assert operator.json()["totals"]["jobs_created"] == 1
        assert (await d.http.get(base, headers=a)).json()["state"] == "succeeded"


async def test_requests_over_the_rate_quota_get_429_with_retry_after(deploy: Deploy) -> None:
    async with deploy() as d:
        code, out, err = await d.cli(
            "keys", "quota", "--tenant", "shop-a", "--requests-per-minute", "3"
        )
        assert code == 0 and "(set)" in out, err
        for _ in range(3):
            assert (await d.http.get("/v1/jobs", headers=d.auth("shop-a"))).status_code == 200
        limited = await d.http.get("/v1/jobs", headers=d.auth("shop-a"))
        assert_error(limited, 429, "rate_limit_exceeded")
        assert 1 <= int(limited.headers["retry-after"]) <= 60  # the first leaves the minute
        assert (await d.http.get("/v1/jobs", headers=d.auth("shop-b"))).status_code == 200


async def test_jobs_at_once_are_capped_with_429_until_one_ends(
    deploy: Deploy, database_url: str
) -> None:
    async with deploy(database=database_url) as d:
        quota = await d.http.patch(
            "/v1/admin/tenants/shop-a/quotas", json={"concurrent_jobs": 1}, headers=d.auth("ops")
        )
        assert quota.status_code == 200, quota.text
        assert quota.json()["overrides"] == {"concurrent_jobs": 1}
        running = await d.submit("shop-a", steps=400, step_s=0.05)
        refused = await d.http.post(
            "/v1/jobs", json={"type": "slow", "input": {}}, headers=d.auth("shop-a")
        )
        assert_error(refused, 429, "concurrent_jobs_exceeded")
        assert int(refused.headers["retry-after"]) >= 1
        await d.submit("shop-b", steps=1, step_s=0)  # other tenants are not held back
        await d.http.delete(f"/v1/jobs/{running['id']}", headers=d.auth("shop-a"))
        await d.submit("shop-a", steps=1, step_s=0)


async def test_storage_quota_fails_the_job_that_would_exceed_it_and_refuses_new_ones(
    deploy: Deploy,
) -> None:
    async with deploy() as d:
        quota = {"storage_bytes": 5000}
        await d.http.patch("/v1/admin/tenants/shop-a/quotas", json=quota, headers=d.auth("ops"))
        first = await d.submit("shop-a", steps=1, step_s=0, big_bytes=3000)
        assert (await d.wait_job(first["id"], "shop-a"))["state"] == "succeeded"
        second = await d.submit("shop-a", steps=1, step_s=0, big_bytes=3000)
        failed = await d.wait_job(second["id"], "shop-a")
        assert failed["state"] == "failed"
        assert failed["error"]["code"] == "storage_quota_exceeded"
        assert [a["name"] for a in failed["artifacts"]] == ["prepared.txt"]
        assert not d.job_dir(second["id"]).joinpath("big.bin").exists()

        usage = (await d.http.get("/v1/usage", headers=d.auth("shop-a"))).json()
        assert usage["storage_bytes"] == 9 + 3000 + 9
        await d.http.patch(
            "/v1/admin/tenants/shop-a/quotas", json={"storage_bytes": 3000}, headers=d.auth("ops")
        )
        refused = await d.http.post(
            "/v1/jobs", json={"type": "slow", "input": {}}, headers=d.auth("shop-a")
        )
        error = assert_error(refused, 403, "storage_quota_exceeded")
        assert "3018" in error["message"] and "3000" in error["message"]
        await d.submit("shop-b", steps=1, step_s=0, big_bytes=3000)
        bad = await d.http.patch(
            "/v1/admin/tenants/shop-a/quotas", json={"storage_bytes": -1}, headers=d.auth("ops")
        )
        assert bad.status_code == 400


async def test_an_upload_over_the_tenant_cap_gets_413_before_its_body_is_read(
    deploy: Deploy,
) -> None:
    async with deploy() as d:
        await d.cli("keys", "quota", "--tenant", "shop-a", "--max-upload-bytes", "1000")
        pulled = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal pulled
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            for _ in range(100):
                pulled += 1
                yield b"\0" * 1000

        url = "/v1/audio/transcriptions"
        streamed = await d.http.post(
            url,
            content=body(),
            headers={**d.auth("shop-a"), "Content-Type": "multipart/form-data; boundary=x"},
        )
        assert_error(streamed, 413, "request_too_large")
        assert "1000 bytes" in streamed.json()["error"]["message"]
        assert pulled <= 2  # refused as soon as the cap was passed, not after buffering it all

        files = {"file": ("a.wav", b"\0" * 5000, "audio/wav")}
        declared = await d.http.post(
            url, files=files, data={"model": "x"}, headers=d.auth("shop-a")
        )
        assert_error(declared, 413, "request_too_large")
        other = await d.http.post(url, files=files, data={"model": "x"}, headers=d.auth("shop-b"))
        assert other.status_code == 404  # past the cap: no such model here
        small = {"file": ("a.wav", b"\0" * 100, "audio/wav")}
        ok = await d.http.post(url, files=small, data={"model": "x"}, headers=d.auth("shop-a"))
        assert ok.status_code == 404


async def test_a_server_without_keys_refuses_nothing_and_names_everyone_default(
    deploy: Deploy,
) -> None:
    async with deploy(keys=(), admin=()) as d:
        usage = await d.http.get("/v1/usage", headers={"Authorization": "Bearer sk-anything"})
        assert usage.status_code == 200 and usage.json()["tenant"] == "default"
        assert (await d.http.get("/v1/admin/tenants")).status_code == 200  # the local operator
