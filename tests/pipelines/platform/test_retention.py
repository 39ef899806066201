"""Retention and deletion over HTTP on the real app: the background sweep deletes expired jobs
and uploads (files and rows), DELETE and purge delete at once, the audit log says who did it,
and artifacts can be kept encrypted at rest yet served whole or by range."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipelines.platform.accounts.settings import TenantQuotas
from pipelines.platform.jobs.crypto import CHUNK, HEADER, TAG, ArtifactCipher, ArtifactDecryptError
from tests.fixtures_jobs import big_payload
from tests.fixtures_tenancy import Deploy, Deployment


def stage_upload(d: Deployment, tenant: str, age_s: float) -> Path:
    """An upload waiting for its job, as /v1/video/dubbings leaves it (owner recorded)."""
    folder = d.settings.data_dir / "video_uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "video").write_bytes(b"\0" * 2048)
    (folder / "owner.json").write_text(json.dumps({"tenant": tenant, "at": time.time() - age_s}))
    return folder


def job_rows(d: Deployment, job_id: str) -> tuple[int, int]:
    jobs = d.rows("SELECT COUNT(*) FROM jobs WHERE id = ?", job_id)[0][0]
    artifacts = d.rows("SELECT COUNT(*) FROM artifacts WHERE job_id = ?", job_id)[0][0]
    return jobs, artifacts


def audit(d: Deployment, action: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    return [
        (actor, tenant, target, json.loads(details))
        for actor, tenant, target, details in d.rows(
            "SELECT actor, tenant, target, details FROM audit_log WHERE action = ? ORDER BY seq",
            action,
        )
    ]


async def test_the_sweeper_deletes_expired_jobs_and_uploads_from_disk_and_database(
    deploy: Deploy,
) -> None:
    async with deploy(sweep_interval_s=0.2, defaults=TenantQuotas(retention_s=3600)) as d:
        await d.http.patch(
            "/v1/admin/tenants/shop-a/quotas", json={"retention_s": 1}, headers=d.auth("ops")
        )
        expiring = await d.submit("shop-a", steps=1, step_s=0, big_bytes=2000)
        kept = await d.submit("shop-b", steps=1, step_s=0, big_bytes=2000)
        old_upload, others_upload = stage_upload(d, "shop-a", 60), stage_upload(d, "shop-b", 60)
        for job, tenant in ((expiring, "shop-a"), (kept, "shop-b")):
            await d.wait_job(job["id"], tenant)
        assert d.job_dir(expiring["id"]).joinpath("big.bin").is_file()

        async with asyncio.timeout(15):
            while d.job_dir(expiring["id"]).exists() or old_upload.exists():
                await asyncio.sleep(0.1)
        response = await d.http.get(f"/v1/jobs/{expiring['id']}", headers=d.auth("shop-a"))
        assert response.status_code == 404
        assert job_rows(d, expiring["id"]) == (0, 0)
        assert d.job_dir(kept["id"]).joinpath("big.bin").read_bytes() == big_payload(2000)
        assert job_rows(d, kept["id"]) == (1, 3 - 1)  # prepared.txt and big.bin
        assert others_upload.exists()
        fresh_upload = stage_upload(d, "shop-a", 0)
        await asyncio.sleep(0.5)  # two more sweeps, well within its 1 s
        assert fresh_upload.exists()
        entries = audit(d, "retention.expired")  # the upload may go a sweep before the job
        assert {entry[:2] for entry in entries} == {("system", "shop-a")}
        assert [job for entry in entries for job in entry[3]["jobs"]] == [expiring["id"]]
        assert sum(entry[3]["uploads"] for entry in entries) == 1


async def test_deleting_a_job_deletes_its_bytes_at_once_and_is_audited(deploy: Deploy) -> None:
    async with deploy() as d:
        done = await d.submit("shop-a", steps=1, step_s=0, big_bytes=3000)
        await d.wait_job(done["id"], "shop-a")
        running = await d.submit("shop-a", steps=400, step_s=0.05)
        await d.wait_job(running["id"], "shop-a", lambda j: j["stages_completed"] >= 1)
        for job in (done, running):
            assert d.job_dir(job["id"]).joinpath("prepared.txt").is_file()
            response = await d.http.delete(f"/v1/jobs/{job['id']}", headers=d.auth("shop-a"))
            assert response.status_code == 200 and response.json()["artifacts"] == []
            assert not d.job_dir(job["id"]).exists()
            assert job_rows(d, job["id"])[1] == 0
        key_id = d.keys["shop-a"].split("-")[1]
        assert [(actor, target) for actor, _, target, _ in audit(d, "job.deleted")] == [
            (f"key:{key_id}", done["id"]),
            (f"key:{key_id}", running["id"]),
        ]
        created = [target for _, _, target, _ in audit(d, "job.created")]
        assert created == [done["id"], running["id"]]


async def test_a_purge_deletes_all_of_a_tenants_data_at_once(deploy: Deploy) -> None:
    async with deploy() as d:
        a = d.auth("shop-a")
        finished = await d.submit("shop-a", steps=1, step_s=0)
        await d.wait_job(finished["id"], "shop-a")
        running = await d.submit("shop-a", steps=400, step_s=0.05)
        await d.wait_job(running["id"], "shop-a", lambda j: j["state"] == "running")
        theirs = await d.submit("shop-b", steps=1, step_s=0)
        await d.wait_job(theirs["id"], "shop-b")
        secret_term = "ZephyrQuartzBrandOfShopA"
        await d.http.put(
            "/v1/glossaries/brand", json={"entries": [{"term": secret_term}]}, headers=a
        )
        glossary = {"entries": [{"term": "AquaPure"}]}
        await d.http.put("/v1/glossaries/brand", json=glossary, headers=d.auth("shop-b"))
        upload = stage_upload(d, "shop-a", 0)
        their_upload = stage_upload(d, "shop-b", 0)

        purged = await d.http.post("/v1/purge", json={"tenant": "shop-a"}, headers=a)
        assert purged.status_code == 200, purged.text
        assert purged.json() == {
            "object": "tenant.purge",
            "tenant": "shop-a",
            "jobs_deleted": 2,
            "uploads_deleted": 1,
            "glossaries_deleted": 1,
        }
        for job in (finished, running):
            assert not d.job_dir(job["id"]).exists() and job_rows(d, job["id"]) == (0, 0)
        assert not upload.exists()
        assert (await d.http.get("/v1/jobs", headers=a)).json()["data"] == []
        assert (await d.http.get("/v1/glossaries/brand", headers=a)).status_code == 404
        for path in d.database.parent.glob("jobs.sqlite3*"):  # not left in free pages or WAL
            assert secret_term.encode() not in path.read_bytes(), path.name
        # the other tenant keeps everything
        assert d.job_dir(theirs["id"]).joinpath("prepared.txt").is_file()
        assert their_upload.exists()
        assert (await d.http.get("/v1/glossaries", headers=d.auth("shop-b"))).json()["data"]
        # usage survives a purge: it is the operator's record
        assert (await d.http.get("/v1/usage", headers=a)).json()["totals"]["jobs_created"] == 2

        by_operator = await d.http.post(
            "/v1/admin/tenants/shop-b/purge", json={"tenant": "shop-b"}, headers=d.auth("ops")
        )
        assert by_operator.json()["jobs_deleted"] == 1
        assert not d.job_dir(theirs["id"]).exists() and not their_upload.exists()
        a_id, ops_id = d.keys["shop-a"].split("-")[1], d.keys["ops"].split("-")[1]
        assert [(actor, tenant) for actor, tenant, _, _ in audit(d, "tenant.purged")] == [
            (f"key:{a_id}", "shop-a"),
            (f"key:{ops_id}", "shop-b"),
        ]


async def test_artifacts_are_encrypted_at_rest_and_served_decrypted_with_ranges(
    deploy: Deploy,
) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    size = 2 * CHUNK + 1000  # three chunks, the last one short
    async with deploy(encryption_key=key) as d:
        job = await d.submit("shop-a", steps=1, step_s=0, big_bytes=size)
        job = await d.wait_job(job["id"], "shop-a")
        assert job["state"] == "succeeded", job["error"]
        plain = big_payload(size)
        (artifact,) = [a for a in job["artifacts"] if a["name"] == "big.bin"]
        assert artifact["bytes"] == size
        assert artifact["sha256"] == hashlib.sha256(plain).hexdigest()

        on_disk = d.job_dir(job["id"]).joinpath("big.bin").read_bytes()
        assert len(on_disk) == HEADER + size + 3 * TAG
        assert plain[:4096] not in on_disk and plain[-4096:] not in on_disk
        assert b"prepared" not in d.job_dir(job["id"]).joinpath("prepared.txt").read_bytes()

        url = f"/v1/jobs/{job['id']}/artifacts/big.bin"
        headers = d.auth("shop-a")
        whole = await d.http.get(url, headers=headers)
        assert whole.status_code == 200 and whole.content == plain
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["content-length"] == str(size)
        assert whole.headers["accept-ranges"] == "bytes"
        across = await d.http.get(
            url, headers={**headers, "Range": f"bytes={CHUNK - 10}-{CHUNK + 9}"}
        )
        assert across.status_code == 206 and across.content == plain[CHUNK - 10 : CHUNK + 10]
        assert across.headers["content-range"] == f"bytes {CHUNK - 10}-{CHUNK + 9}/{size}"
        tail = await d.http.get(url, headers={**headers, "Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == plain[-10:]
        rest = await d.http.get(url, headers={**headers, "Range": f"bytes={2 * CHUNK}-"})
        assert rest.content == plain[2 * CHUNK :]
        beyond = await d.http.get(url, headers={**headers, "Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        assert beyond.json()["error"]["code"] == "range_not_satisfiable"
        for ignored in ("bytes=5-1", "bytes=0-9, 20-29"):  # invalid; several: the whole file
            whole = await d.http.get(url, headers={**headers, "Range": ignored})
            assert (whole.status_code, whole.content) == (200, plain), ignored
        head = await d.http.head(url, headers=headers)
        assert head.status_code == 200 and head.headers["content-length"] == str(size)
        text = await d.http.get(f"/v1/jobs/{job['id']}/artifacts/prepared.txt", headers=headers)
        assert text.text == "prepared\n"


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1])
def test_the_cipher_round_trips_and_refuses_altered_or_cut_files(size: int) -> None:
    cipher = ArtifactCipher(os.urandom(32))
    plain = os.urandom(size)
    sealed = io.BytesIO()
    assert cipher.encrypt_stream(io.BytesIO(plain), sealed) == (
        size,
        hashlib.sha256(plain).hexdigest(),
    )
    data = sealed.getvalue()
    assert cipher.plain_size(len(data)) == size
    assert b"".join(cipher.read_range(io.BytesIO(data), 0, size - 1)) == plain
    if size == 0:
        return
    flipped = bytearray(data)
    flipped[HEADER] ^= 1
    with pytest.raises(ArtifactDecryptError):
        b"".join(cipher.read_range(io.BytesIO(bytes(flipped)), 0, size - 1))
    if size > CHUNK:  # drop the last chunk: the one left was not sealed as the last
        cut = data[: HEADER + CHUNK + TAG]
        with pytest.raises(ArtifactDecryptError):
            b"".join(cipher.read_range(io.BytesIO(cut), 0, CHUNK - 1))
    other = ArtifactCipher(os.urandom(32))
    with pytest.raises(ArtifactDecryptError):
        b"".join(other.read_range(io.BytesIO(data), 0, size - 1))
