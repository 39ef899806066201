"""/v1/admin/...: the operator's view across tenants — usage, quotas, keys, purge, audit log.

Every route needs an admin key (`localshang keys create --tenant ops --admin`, or a config key
with `admin: true`); other keys get a 403.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from pipelines.platform.accounts.service import TENANT_NAME, AccountService, check_tenant_name
from pipelines.platform.jobs.service import JobService
from server.deps import AccountsDep, JobsDep, RetentionDep
from server.errors import APIError
from server.routers.account import usage_report
from server.schemas.accounts import (
    AuditEntry,
    AuditList,
    KeyCreateRequest,
    KeyList,
    KeyObject,
    KeysRevoked,
    PurgeRequest,
    PurgeResult,
    QuotasUpdate,
    SweepResult,
    TenantList,
    TenantQuotasObject,
    TenantSummary,
    UsageList,
)
from server.tenancy import AdminDep


def tenant_path(
    tenant: Annotated[
        str, Path(description="a tenant's name", json_schema_extra={"pattern": TENANT_NAME.pattern})
    ],
) -> str:
    """The `{tenant}` of a path, refused (400 invalid_tenant) unless it is a tenant's name."""
    return check_tenant_name(tenant)


TenantPath = Annotated[str, Depends(tenant_path)]


async def known_tenants(accounts: AccountService, jobs: JobService) -> list[str]:
    """Tenants with keys, quotas, usage or jobs (here and in the console's operator pages)."""
    return sorted(set(await accounts.tenants()) | set(await jobs.store.tenants()))


async def tenant_quotas(accounts: AccountService, tenant: str) -> TenantQuotasObject:
    return TenantQuotasObject(
        tenant=tenant,
        quotas=await accounts.quotas(tenant),
        overrides=await accounts.quota_overrides(tenant),
    )


async def revoke_key_by_id(accounts: AccountService, key_id: str, actor: str) -> list[str]:
    """Revoke one key; 404 if there is no such key (a key revoked already: nothing revoked)."""
    revoked = await accounts.revoke_keys(actor=actor, key_id=key_id)
    if not revoked and all(k.id != key_id for k in await accounts.list_keys()):
        raise APIError(404, f"No key with id '{key_id}'", param="key_id", code="key_not_found")
    return revoked


router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/usage")
async def usage_of_all(
    _: AdminDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    start_date: date | None = None,
    end_date: date | None = None,
) -> UsageList:
    """Every tenant's usage over the period (tenants with keys, quotas, usage or jobs)."""
    tenants = await known_tenants(accounts, jobs)
    return UsageList(
        data=[await usage_report(accounts, jobs, t, start_date, end_date) for t in tenants]
    )


@router.get("/tenants")
async def list_tenants(_: AdminDep, accounts: AccountsDep, jobs: JobsDep) -> TenantList:
    tenants = await known_tenants(accounts, jobs)
    keys = await accounts.list_keys()
    return TenantList(
        data=[
            TenantSummary(
                tenant=tenant,
                active_keys=sum(1 for k in keys if k.tenant == tenant and k.revoked_at is None),
                storage_bytes=await jobs.store.storage_bytes(tenant),
                quotas=await accounts.quotas(tenant),
            )
            for tenant in tenants
        ]
    )


@router.get("/tenants/{tenant}/quotas")
async def get_quotas(tenant: TenantPath, _: AdminDep, accounts: AccountsDep) -> TenantQuotasObject:
    return await tenant_quotas(accounts, tenant)


@router.patch("/tenants/{tenant}/quotas")
async def set_quotas(
    tenant: TenantPath, body: QuotasUpdate, caller: AdminDep, accounts: AccountsDep
) -> TenantQuotasObject:
    """Set some of one tenant's quotas (null: unlimited); the fields left out stay as they are."""
    quotas = await accounts.set_quotas(tenant, body.changes(), actor=caller.actor)
    return TenantQuotasObject(
        tenant=tenant, quotas=quotas, overrides=await accounts.quota_overrides(tenant)
    )


@router.delete("/tenants/{tenant}/quotas")
async def reset_quotas(
    tenant: TenantPath, caller: AdminDep, accounts: AccountsDep
) -> TenantQuotasObject:
    """Give the tenant the default quotas again."""
    quotas = await accounts.set_quotas(tenant, {}, actor=caller.actor, reset=True)
    return TenantQuotasObject(tenant=tenant, quotas=quotas, overrides={})


@router.post("/tenants/{tenant}/purge")
async def purge_tenant(
    tenant: TenantPath, body: PurgeRequest, caller: AdminDep, retention: RetentionDep
) -> PurgeResult:
    """Delete all of one tenant's jobs, artifacts, uploads and glossaries now; the body names
    the tenant again to confirm."""
    body.confirm(tenant)
    return PurgeResult.of(await retention.purge(tenant, actor=caller.actor))


@router.get("/keys")
async def list_keys(_: AdminDep, accounts: AccountsDep, tenant: str | None = None) -> KeyList:
    return KeyList(data=[KeyObject.from_record(k) for k in await accounts.list_keys(tenant)])


@router.post("/keys")
async def create_key(body: KeyCreateRequest, caller: AdminDep, accounts: AccountsDep) -> KeyObject:
    """A new key; `key` is in this answer only: only a salted hash of it is kept."""
    record, key = await accounts.create_key(
        body.tenant, actor=caller.actor, admin=body.admin, label=body.label
    )
    return KeyObject.from_record(record, key)


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, caller: AdminDep, accounts: AccountsDep) -> KeysRevoked:
    return KeysRevoked(revoked=await revoke_key_by_id(accounts, key_id, caller.actor))


@router.get("/audit")
async def audit_log(
    _: AdminDep,
    accounts: AccountsDep,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """Who did what, newest first: keys created and revoked, quotas set, jobs created and
    deleted, purges, retention sweeps."""
    events = await accounts.audit_log(tenant, limit)
    return AuditList(data=[AuditEntry.from_event(e) for e in events])


@router.post("/retention/sweep")
async def sweep_now(_: AdminDep, retention: RetentionDep) -> SweepResult:
    """Delete what has expired now, instead of at the next background sweep."""
    erased = await retention.sweep()
    return SweepResult(
        jobs_deleted={e.tenant: list(e.jobs) for e in erased},
        uploads_deleted={e.tenant: len(e.uploads) for e in erased},
    )
