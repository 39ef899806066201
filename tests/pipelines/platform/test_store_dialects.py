"""The job and account stores behave the same on SQLite and on PostgreSQL: every test here takes
`database_url` and runs once on each. Round trips of what the dialects store differently (JSON
text, Boolean, bytea, BIGINT, autoincrement order, upserts, RETURNING), and the tenant's cap on
active jobs under concurrent creates, which READ COMMITTED alone would let through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pipelines.platform.accounts.types import Account, AuditEvent, ConsoleSession, KeyRecord
from pipelines.platform.jobs.types import ArtifactRecord, JobState
from pipelines.platform.storage.stores import Stores, stores_for


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    opened = stores_for(database_url)
    await opened.database.open(upgrade=True)
    try:
        yield opened
    finally:
        await opened.database.close()


async def test_jobs_artifacts_and_glossaries_round_trip(stores: Stores) -> None:
    jobs = stores.jobs
    first = await jobs.create(
        tenant="shop-a", type="slow", resource="test", input={"title": "保温杯 ☕"}, stage_count=3
    )
    second = await jobs.create(
        tenant="shop-a", type="slow", resource="test", input={}, stage_count=1
    )
    assert first is not None and second is not None
    assert first.input == {"title": "保温杯 ☕"} and first.state == JobState.QUEUED
    assert await jobs.queue_position(second) == 2

    claimed = await jobs.claim_next("test")  # the oldest first: the seq order
    assert claimed is not None and claimed.id == first.id and claimed.attempts == 1
    await jobs.start_stage(first.id, "work", 1, 0.25)
    await jobs.save_checkpoint(first.id, {"steps": [1, 2], "名": "值"}, 0.5, completed_stages=2)
    big = ArtifactRecord(first.id, "out.mp4", "video/mp4", 5 * 2**30, "ab" * 32, 10.0)
    assert await jobs.add_artifact(big)
    assert await jobs.add_artifact(big)  # the same name again replaces its record
    assert await jobs.finish(first.id, JobState.SUCCEEDED, result={"ok": True, "n": 1.5})

    done = await jobs.get(first.id, "shop-a")
    assert done is not None and done.state == JobState.SUCCEEDED and done.progress == 1.0
    assert done.checkpoint == {"steps": [1, 2], "名": "值"} and done.stage_index == 2
    assert done.result == {"ok": True, "n": 1.5} and done.artifacts == (big,)
    assert await jobs.get(first.id, "shop-b") is None
    assert await jobs.storage_bytes("shop-a") == 5 * 2**30
    assert [j.id for j in await jobs.list_jobs("shop-a")] == [second.id, first.id]
    assert await jobs.job_ids("shop-a") == [first.id, second.id]

    assert await jobs.cancel(second.id) and not await jobs.cancel(second.id)
    assert await jobs.delete(first.id) and await jobs.artifact(first.id, "out.mp4") is None
    third = await jobs.create(
        tenant="shop-a", type="slow", resource="test", input={}, stage_count=1
    )
    assert third is not None  # a deleted job's number is not handed out again: still the newest
    assert [j.id for j in await jobs.list_jobs("shop-a")] == [third.id, second.id]
    await jobs.compact()

    await jobs.put_glossary("shop-a", "brand", [{"source": "杯", "target": "cup"}])
    await jobs.put_glossary("shop-a", "brand", [{"source": "杯", "target": "mug"}])
    glossary = await jobs.get_glossary("shop-a", "brand")
    assert glossary is not None and glossary.entries == [{"source": "杯", "target": "mug"}]
    assert await jobs.delete_glossaries("shop-a") == 1


async def test_keys_sessions_usage_quotas_and_audit_round_trip(stores: Stores) -> None:
    accounts = stores.accounts
    salt, digest = bytes(range(16)), b"\x00\xff" * 16  # NUL and high bytes: bytea, not text
    for key_id, tenant, admin in (("k1", "shop-a", True), ("k2", "shop-a", False)):
        await accounts.add_key(KeyRecord(key_id, tenant, admin, "label", 1.0, None, salt, digest))
    key = await accounts.key("k1")
    assert key is not None and key.is_admin is True and (key.salt, key.digest) == (salt, digest)
    assert [k.is_admin for k in await accounts.list_keys("shop-a")] == [True, False]
    assert sorted(await accounts.revoke_keys(tenant="shop-a")) == ["k1", "k2"]
    assert await accounts.revoke_keys(key_id="k1") == []  # RETURNING: none left to revoke

    session = ConsoleSession("s1", Account("shop-a", True, "k1"), "csrf", 1.0, 2.0)
    await accounts.add_session(session)
    assert await accounts.session("s1") == session
    assert await accounts.delete_expired_sessions(3.0) == 1

    await accounts.add_usage("shop-a", "2024-05-01", {"jobs_created": 1, "audio_s": 2.5})
    await accounts.add_usage("shop-a", "2024-05-01", {"jobs_created": 2})  # the upsert adds
    usage = {(u.metric, u.amount) for u in await accounts.usage("shop-a")}
    assert usage == {("jobs_created", 3), ("audio_s", 2.5)}
    await accounts.set_quota_overrides("shop-a", {"max_active_jobs": 2, "名": "值"})
    assert await accounts.quota_overrides("shop-a") == {"max_active_jobs": 2, "名": "值"}

    for n in range(3):  # the same instant: the log's order is its seq
        await accounts.audit(AuditEvent(f"act{n}", "ops", "shop-a", None, {"n": n}, at=5.0))
    events = await accounts.audit_log("shop-a")
    assert [e.action for e in events] == ["act2", "act1", "act0"]
    assert events[0].seq > events[1].seq > events[2].seq > 0
    assert await accounts.tenants() == ["shop-a"]


async def test_concurrent_creates_never_pass_the_tenants_cap(stores: Stores) -> None:
    async def create() -> bool:
        job = await stores.jobs.create(
            tenant="shop-a", type="slow", resource="test", input={}, stage_count=1, max_active=3
        )
        return job is not None

    for _ in range(3):  # rounds: a race, where there is one, shows in some of them
        created = await asyncio.gather(*(create() for _ in range(16)))
        queued = await stores.jobs.list_jobs("shop-a", state=JobState.QUEUED)
        assert sum(created) == 3 and len(queued) == 3
        for job in queued:
            assert await stores.jobs.cancel(job.id)
