"""AccountStore on SQLAlchemy Core: keys, console sessions, quota overrides, usage counters and
the audit log, in the jobs' database (the job store and the `localshang keys` command may use it at once)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, select, union, update

from pipelines.platform.accounts.types import (
    Account,
    AuditEvent,
    ConsoleSession,
    KeyRecord,
    UsageRow,
)
from pipelines.platform.storage.database import DatabaseStore
from pipelines.platform.storage.schema import (
    api_keys,
    audit_log,
    console_sessions,
    tenant_quotas,
    usage,
)
from pipelines.platform.storage.upsert import upsert


class SQLAccountStore(DatabaseStore):
    """Every call is one transaction."""

    # --- keys -------------------------------------------------------------------------------
    async def add_key(self, key: KeyRecord) -> None:
        statement = api_keys.insert().values(
            id=key.id,
            tenant=key.tenant,
            salt=key.salt,
            digest=key.digest,
            is_admin=key.is_admin,
            label=key.label,
            created_at=key.created_at,
        )
        await self._run(lambda db: db.execute(statement))

    async def key(self, key_id: str) -> KeyRecord | None:
        query = select(api_keys).where(api_keys.c.id == key_id)

        def select_one(db: Connection) -> KeyRecord | None:
            found = db.execute(query).first()
            return _key(found) if found else None

        return await self._run(select_one)

    async def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        return await self._run(lambda db: [_key(row) for row in db.execute(query)])

    async def revoke_keys(
        self, *, key_id: str | None = None, tenant: str | None = None
    ) -> list[str]:
        if (key_id is None) == (tenant is None):
            raise ValueError("revoke one key (key_id) or all of a tenant's (tenant)")
        which = api_keys.c.id == key_id if key_id is not None else api_keys.c.tenant == tenant
        statement = (
            update(api_keys)
            .where(which, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
            .returning(api_keys.c.id)
        )
        return await self._run(lambda db: list(db.scalars(statement)))

    async def any_keys(self) -> bool:
        query = select(exists().select_from(api_keys))
        return await self._run(lambda db: bool(db.scalar(query)))

    # --- console sessions -------------------------------------------------------------------
    async def add_session(self, session: ConsoleSession) -> None:
        statement = console_sessions.insert().values(
            id=session.id,
            tenant=session.account.tenant,
            key_id=session.account.key_id,
            is_admin=session.account.is_admin,
            csrf_token=session.csrf_token,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )
        await self._run(lambda db: db.execute(statement))

    async def session(self, session_id: str) -> ConsoleSession | None:
        query = select(console_sessions).where(console_sessions.c.id == session_id)

        def select_one(db: Connection) -> ConsoleSession | None:
            found = db.execute(query).first()
            return _session(found) if found else None

        return await self._run(select_one)

    async def delete_session(self, session_id: str) -> None:
        statement = delete(console_sessions).where(console_sessions.c.id == session_id)
        await self._run(lambda db: db.execute(statement))

    async def delete_expired_sessions(self, now: float) -> int:
        statement = delete(console_sessions).where(console_sessions.c.expires_at <= now)
        return await self._run(lambda db: db.execute(statement).rowcount)

    # --- quotas -----------------------------------------------------------------------------
    async def quota_overrides(self, tenant: str) -> dict[str, Any]:
        query = select(tenant_quotas.c.quotas).where(tenant_quotas.c.tenant == tenant)

        def select_one(db: Connection) -> dict[str, Any]:
            quotas = db.scalar(query)
            return dict(json.loads(quotas)) if quotas else {}

        return await self._run(select_one)

    async def set_quota_overrides(self, tenant: str, overrides: dict[str, Any]) -> None:
        def write(db: Connection) -> None:
            if not overrides:
                db.execute(delete(tenant_quotas).where(tenant_quotas.c.tenant == tenant))
                return
            row = {
                "tenant": tenant,
                "quotas": json.dumps(overrides, sort_keys=True),
                "updated_at": time.time(),
            }
            upsert(db, tenant_quotas, [row], keys=("tenant",))

        await self._run(write)

    # --- usage ------------------------------------------------------------------------------
    async def add_usage(self, tenant: str, day: str, amounts: dict[str, float]) -> None:
        rows = [
            {"tenant": tenant, "day": day, "metric": metric, "amount": amount}
            for metric, amount in amounts.items()
        ]
        if rows:
            await self._run(
                lambda db: upsert(
                    db, usage, rows, keys=("tenant", "day", "metric"), add=("amount",)
                )
            )

    async def usage(
        self, tenant: str | None = None, start_day: str | None = None, end_day: str | None = None
    ) -> list[UsageRow]:
        query = select(usage).order_by(usage.c.tenant, usage.c.day, usage.c.metric)
        if tenant is not None:
            query = query.where(usage.c.tenant == tenant)
        if start_day is not None:
            query = query.where(usage.c.day >= start_day)
        if end_day is not None:
            query = query.where(usage.c.day <= end_day)
        return await self._run(
            lambda db: [UsageRow(r.tenant, r.day, r.metric, r.amount) for r in db.execute(query)]
        )

    # --- audit ------------------------------------------------------------------------------
    async def audit(self, event: AuditEvent) -> None:
        statement = audit_log.insert().values(
            at=event.at or time.time(),
            actor=event.actor,
            tenant=event.tenant,
            action=event.action,
            target=event.target,
            details=json.dumps(event.details, ensure_ascii=False, sort_keys=True),
        )
        await self._run(lambda db: db.execute(statement))

    async def audit_log(self, tenant: str | None = None, limit: int = 100) -> list[AuditEvent]:
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if tenant is not None:
            query = query.where(audit_log.c.tenant == tenant)
        return await self._run(lambda db: [_event(row) for row in db.execute(query)])

    async def tenants(self) -> list[str]:
        named = union(
            select(api_keys.c.tenant), select(tenant_quotas.c.tenant), select(usage.c.tenant)
        ).subquery()
        query = select(named.c.tenant).order_by(named.c.tenant)
        return await self._run(lambda db: list(db.scalars(query)))


def _key(row: Row[Any]) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        tenant=row.tenant,
        is_admin=bool(row.is_admin),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        salt=bytes(row.salt),
        digest=bytes(row.digest),
    )


def _session(row: Row[Any]) -> ConsoleSession:
    return ConsoleSession(
        id=row.id,
        account=Account(row.tenant, bool(row.is_admin), row.key_id),
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        action=row.action,
        actor=row.actor,
        tenant=row.tenant,
        target=row.target,
        details=json.loads(row.details),
        at=row.at,
        seq=row.seq,
    )
