"""Web console sign-in sessions through AccountService on a real SQLite database: the cookie's
token is kept only as a hash, and a session lasts no longer than its TTL, its sign-out, or the
key it was opened with."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from pipelines.platform.accounts.retention import Retention
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.accounts.types import CONFIG_KEY_ID, Account
from pipelines.platform.jobs.job_type import JobTypes
from pipelines.platform.jobs.service import JobService
from pipelines.platform.storage.stores import stores_for
from pipelines.settings import Settings
from tests.fixtures_tenancy import tenancy_settings

TTL_S = 3600.0


class Accounts:
    """An AccountService and the retention sweep on one database, and looks into its file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        stores = stores_for(settings.jobs_database())
        self.service = AccountService.from_settings(settings, stores.accounts)
        jobs = JobService.from_settings(settings, None, JobTypes([]), store=stores.jobs)
        self.retention = Retention(jobs, self.service, settings.data_dir, 300.0)

    @property
    def files(self) -> list[Path]:
        """The database file and its journals: what someone with the disk would read."""
        path = Path(self.settings.jobs_database())
        return sorted(path.parent.glob(path.name + "*"))

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.settings.jobs_database())
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    async def key_account(self, tenant: str, admin: bool = False) -> Account:
        _, key = await self.service.create_key(tenant, actor="cli", admin=admin)
        account = await self.service.authenticate(key)
        assert account is not None
        return account


OpenAccounts = Callable[..., AbstractAsyncContextManager[Accounts]]


@pytest.fixture
def accounts(tmp_path: Path) -> OpenAccounts:
    """`async with accounts(config_keys=[...]) as a:` the service, open, on tmp_path's database
    (the same one each time: a second block is the server restarted with another config)."""

    @asynccontextmanager
    async def build(config_keys: list[dict[str, Any]] | None = None) -> AsyncIterator[Accounts]:
        opened = Accounts(tenancy_settings(tmp_path, config_keys=config_keys))
        await opened.service.open()
        try:
            yield opened
        finally:
            await opened.service.close()

    return build


async def test_a_session_is_found_by_its_token_which_is_stored_only_hashed(
    accounts: OpenAccounts,
) -> None:
    async with accounts() as a:
        account = await a.key_account("shop-a")
        token, opened = await a.service.open_session(account, ttl_s=TTL_S)
        found = await a.service.session(token)
        assert found is not None and found == opened and found.account == account
        assert found.csrf_token and found.csrf_token != token
        assert found.expires_at == pytest.approx(found.created_at + TTL_S)
        assert await a.service.session(token + "x") is None
        assert await a.service.session(found.id) is None  # the stored id is no token

        stored = b"".join(path.read_bytes() for path in a.files)
        assert opened.id.encode() in stored and token.encode() not in stored
        (actor, tenant, details), *_ = a.rows(
            "SELECT actor, tenant, details FROM audit_log WHERE action = 'session.opened'"
        )
        assert (actor, tenant) == (account.actor, "shop-a")
        assert json.loads(details) == {"expires_at": opened.expires_at}


async def test_an_expired_session_is_gone_and_swept_away(accounts: OpenAccounts) -> None:
    async with accounts() as a:
        account = await a.key_account("shop-a")
        expired, _ = await a.service.open_session(account, ttl_s=0)
        live, kept = await a.service.open_session(account, ttl_s=TTL_S)
        assert await a.service.session(expired) is None
        assert len(a.rows("SELECT id FROM console_sessions")) == 2

        await a.retention.sweep()
        assert a.rows("SELECT id FROM console_sessions") == [(kept.id,)]
        assert await a.service.session(live) == kept
        await a.retention.sweep(now=kept.expires_at)
        assert a.rows("SELECT id FROM console_sessions") == []


async def test_revoking_a_key_ends_its_sessions_at_once(accounts: OpenAccounts) -> None:
    async with accounts() as a:
        revoked, other = await a.key_account("shop-a"), await a.key_account("shop-a")
        token, _ = await a.service.open_session(revoked, ttl_s=TTL_S)
        others, _ = await a.service.open_session(other, ttl_s=TTL_S)
        await a.service.revoke_keys(actor="cli", key_id=revoked.key_id)
        assert await a.service.session(token) is None
        assert await a.service.session(others) is not None


async def test_signing_out_deletes_the_session(accounts: OpenAccounts) -> None:
    async with accounts() as a:
        token, _ = await a.service.open_session(await a.key_account("shop-a"), ttl_s=TTL_S)
        await a.service.close_session(token)
        assert await a.service.session(token) is None
        assert a.rows("SELECT id FROM console_sessions") == []
        await a.service.close_session(token)  # twice is no error


async def test_a_config_key_session_lasts_while_the_config_has_such_a_key(
    accounts: OpenAccounts,
) -> None:
    secret = "ops-secret-of-the-config-file"
    ops = {"key": secret, "tenant": "ops", "admin": True}
    async with accounts(config_keys=[ops]) as a:
        account = await a.service.authenticate(secret)
        assert account == Account("ops", True, CONFIG_KEY_ID)
        token, opened = await a.service.open_session(account, ttl_s=TTL_S)
        assert await a.service.session(token) == opened
    async with accounts(config_keys=[{**ops, "key": "rotated-secret-of-the-config"}]) as a:
        assert await a.service.session(token) == opened  # same tenant, still an admin
    async with accounts(config_keys=[{**ops, "admin": False}]) as a:
        assert await a.service.session(token) is None  # no admin key of "ops" any more
    async with accounts(config_keys=[{**ops, "tenant": "shop-a"}]) as a:
        assert await a.service.session(token) is None


async def test_a_session_from_before_any_key_ends_once_a_key_exists(
    accounts: OpenAccounts,
) -> None:
    async with accounts() as a:
        token, opened = await a.service.open_session(Account("default", True, None), ttl_s=TTL_S)
        assert await a.service.session(token) == opened
        await a.service.create_key("shop-a", actor="cli")
        assert await a.service.session(token) is None
    async with accounts() as a:  # restarted: it finds the key in the database
        assert await a.service.session(token) is None
