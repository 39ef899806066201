"""AccountService: who a key is, what a tenant may do, what it used and who did what.

It is also the job system's TenantPolicy: jobs ask it for limits and tell it what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.errors import InvalidInput, Unavailable
from pipelines.platform.accounts.keys import (
    hash_secret,
    new_key,
    new_salt,
    parse_key,
    secret_matches,
)
from pipelines.platform.accounts.settings import ApiKey, TenantQuotas, TenantSettings
from pipelines.platform.accounts.store import AccountStore
from pipelines.platform.accounts.types import (
    CONFIG_KEY_ID,
    Account,
    AuditEvent,
    ConsoleSession,
    KeyRecord,
    UsageRow,
)
from pipelines.platform.accounts.usage import METRICS, job_usage, usage_day
from pipelines.platform.jobs.policy import JobEvent, JobLimits
from pipelines.platform.storage.stores import stores_for
from pipelines.settings import Settings

TENANT_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?![\s\S])"
)  # no final newline, unlike $


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid tenant name '{name}': 1-64 letters, digits, '.', '_' or '-'",
            param="tenant",
            code="invalid_tenant",
        )
    return name


def session_id(token: str) -> str:
    """What a console session is stored under: its token is 256 random bits, so an unsalted
    sha256 is as good as a slow hash, and a stolen database holds no cookie to replay."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    # Quota overrides set by `localshang keys quota` (another process) apply within this time.
    quota_cache_s = 2.0

    def __init__(
        self,
        store: AccountStore,
        tenants: TenantSettings,
        config_keys: Sequence[ApiKey] = (),
    ) -> None:
        self.store = store
        self.defaults = tenants.defaults
        self.config_keys = list(config_keys)
        self._open = False
        self._quotas: dict[str, tuple[float, TenantQuotas]] = {}
        self._keys_seen_at = 0.0  # when the database last said whether it has keys
        self._db_has_keys = False

    @classmethod
    def from_settings(cls, settings: Settings, store: AccountStore | None = None) -> AccountService:
        """The accounts in the jobs' database, the config's keys and tenant defaults."""
        return cls(
            store or stores_for(settings.jobs_database()).accounts,
            settings.tenants,
            settings.server.api_keys,
        )

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:
        await self.store.open()
        self._open = True

    async def close(self) -> None:
        self._open = False
        await self.store.close()

    # --- who is calling ---------------------------------------------------------------------
    async def authenticate(self, token: str) -> Account | None:
        """The account of `token`, or None if it is no valid key (unknown, wrong or revoked)."""
        account = None
        for key in self.config_keys:  # every one compared, so timing does not tell which
            if hmac.compare_digest(key.key.get_secret_value().encode(), token.encode()):
                account = Account(key.tenant, key.admin, CONFIG_KEY_ID)
        parsed = parse_key(token)
        if account is not None or parsed is None or not self._open:
            return account
        key_id, secret = parsed
        record = await self.store.key(key_id)
        if record is None or record.revoked_at is not None:
            # hash anyway: an unknown id should cost what a wrong secret costs
            hash_secret(secret, b"\0" * 16)
            return None
        if not secret_matches(secret, record.salt, record.digest):
            return None
        self._db_has_keys = True  # e.g. created by `localshang keys` since we last looked
        return Account(record.tenant, record.is_admin, record.id)

    async def keys_exist(self) -> bool:
        """Whether any key exists (config or database); Unavailable while the store is closed.
        Once keys exist, they always will."""
        if self.config_keys or self._db_has_keys:
            return True
        if not self._open:  # "no keys" would open everything to everyone: fail closed
            raise Unavailable(
                "The server is starting or stopping: try again in a moment.",
                code="accounts_unavailable",
            )
        if time.monotonic() - self._keys_seen_at > 1.0:
            self._db_has_keys = await self.store.any_keys()
            self._keys_seen_at = time.monotonic()
        return self._db_has_keys

    # --- web console sessions --------------------------------------------------------------
    async def open_session(self, account: Account, *, ttl_s: float) -> tuple[str, ConsoleSession]:
        """Sign `account` in to the console for `ttl_s`: the token for the browser's cookie (shown
        this once: only its sha256 is stored) and the session's record."""
        token, now = secrets.token_urlsafe(32), time.time()
        session = ConsoleSession(
            id=session_id(token),
            account=account,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + ttl_s,
        )
        await self.store.add_session(session)
        await self.audit(
            "session.opened",
            actor=account.actor,
            tenant=account.tenant,
            expires_at=session.expires_at,
        )
        return token, session

    async def session(self, token: str) -> ConsoleSession | None:
        """The session of a cookie's token; None if it is unknown, expired, or the key it was
        opened with no longer signs in (revoked, gone from the config, or keys exist now where
        there were none), so that taking a key away takes its browsers away at once."""
        if not self._open:
            return None
        session = await self.store.session(session_id(token))
        if session is None or session.expires_at <= time.time():
            return None
        return session if await self._still_valid(session.account) else None

    async def close_session(self, token: str) -> None:
        """Sign out: the token opens nothing any more."""
        await self.store.delete_session(session_id(token))

    async def _still_valid(self, account: Account) -> bool:
        if account.key_id is None:
            return not await self.keys_exist()
        if account.key_id == CONFIG_KEY_ID:
            return any(
                key.tenant == account.tenant and key.admin == account.is_admin
                for key in self.config_keys
            )
        record = await self.store.key(account.key_id)
        return record is not None and record.revoked_at is None

    # --- keys -------------------------------------------------------------------------------
    async def create_key(
        self, tenant: str, *, actor: str, admin: bool = False, label: str = ""
    ) -> tuple[KeyRecord, str]:
        """The new key's record and the key itself: it is shown this once and never stored."""
        check_tenant_name(tenant)
        key_id, secret, key = new_key()
        salt = new_salt()
        record = KeyRecord(
            id=key_id,
            tenant=tenant,
            is_admin=admin,
            label=label,
            created_at=time.time(),
            revoked_at=None,
            salt=salt,
            digest=hash_secret(secret, salt),
        )
        await self.store.add_key(record)
        self._db_has_keys = True
        await self.audit("key.created", actor=actor, tenant=tenant, target=key_id, admin=admin)
        return record, key

    async def revoke_keys(
        self, *, actor: str, key_id: str | None = None, tenant: str | None = None
    ) -> list[str]:
        if key_id is not None:
            record = await self.store.key(key_id)
            if record is None:
                return []
            tenant = record.tenant
        revoked = await self.store.revoke_keys(
            key_id=key_id, tenant=None if key_id is not None else tenant
        )
        for revoked_id in revoked:
            await self.audit("key.revoked", actor=actor, tenant=tenant or "", target=revoked_id)
        return revoked

    async def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        return await self.store.list_keys(tenant)

    # --- quotas -----------------------------------------------------------------------------
    async def quotas(self, tenant: str) -> TenantQuotas:
        cached = self._quotas.get(tenant)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        overrides = await self.store.quota_overrides(tenant) if self._open else {}
        quotas = self.defaults.model_copy(update=overrides)
        self._quotas[tenant] = (time.monotonic() + self.quota_cache_s, quotas)
        return quotas

    async def quota_overrides(self, tenant: str) -> dict[str, Any]:
        return await self.store.quota_overrides(tenant)

    async def set_quotas(
        self, tenant: str, changes: Mapping[str, Any], *, actor: str, reset: bool = False
    ) -> TenantQuotas:
        """Override some of the tenant's quotas (None: unlimited); `reset` drops the old overrides
        first. Returns the quotas in force now."""
        check_tenant_name(tenant)
        unknown = set(changes) - set(TenantQuotas.model_fields)
        if unknown:
            raise InvalidInput(f"Unknown quota '{sorted(unknown)[0]}'", code="invalid_quota")
        overrides = {} if reset else await self.store.quota_overrides(tenant)
        overrides.update(changes)
        try:  # validated as a whole: a bad value is a 400, never a row that breaks later
            quotas = TenantQuotas.model_validate({**self.defaults.model_dump(), **overrides})
        except ValueError as exc:
            raise InvalidInput(f"Invalid quota: {exc}", code="invalid_quota") from exc
        await self.store.set_quota_overrides(tenant, overrides)
        self._quotas.pop(tenant, None)
        await self.audit(
            "quota.updated", actor=actor, tenant=tenant, overrides=overrides, reset=reset
        )
        return quotas

    # --- usage ------------------------------------------------------------------------------
    async def record_usage(
        self, tenant: str, amounts: Mapping[str, float], at: float | None = None
    ) -> None:
        unknown = set(amounts) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown usage metrics: {sorted(unknown)}")
        counted = {metric: float(amount) for metric, amount in amounts.items() if amount}
        if counted:
            await self.store.add_usage(tenant, usage_day(at or time.time()), counted)

    async def usage(
        self, tenant: str | None = None, start_day: str | None = None, end_day: str | None = None
    ) -> list[UsageRow]:
        return await self.store.usage(tenant, start_day, end_day)

    async def tenants(self) -> list[str]:
        return await self.store.tenants()

    # --- audit ------------------------------------------------------------------------------
    async def audit(
        self, action: str, *, actor: str, tenant: str, target: str | None = None, **details: Any
    ) -> None:
        await self.store.audit(AuditEvent(action, actor, tenant, target, details, time.time()))

    async def audit_log(self, tenant: str | None = None, limit: int = 100) -> list[AuditEvent]:
        return await self.store.audit_log(tenant, limit)

    # --- the job system's TenantPolicy ------------------------------------------------------
    async def job_limits(self, tenant: str) -> JobLimits:
        quotas = await self.quotas(tenant)
        return JobLimits(concurrent_jobs=quotas.concurrent_jobs, storage_bytes=quotas.storage_bytes)

    async def on_job_event(self, event: JobEvent) -> None:
        job = event.job
        if event.action == "job.created":
            await self.record_usage(job.tenant, {"jobs_created": 1})
        if event.action == "job.finished":
            await self.record_usage(job.tenant, {**event.usage, **job_usage(job)})
            return
        await self.audit(
            event.action,
            actor=event.actor or f"tenant:{job.tenant}",
            tenant=job.tenant,
            target=job.id,
            type=job.type,
            state=job.state.value,
        )
