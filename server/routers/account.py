"""/v1/usage and /v1/purge: what the caller's tenant used, and deleting all its data at once."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from pipelines.platform.accounts.service import AccountService
from pipelines.platform.jobs.service import JobService
from server.deps import AccountsDep, JobsDep, RetentionDep
from server.errors import APIError
from server.schemas.accounts import PurgeRequest, PurgeResult, Usage
from server.tenancy import CallerDep

router = APIRouter(prefix="/v1", tags=["account"])


async def usage_report(
    accounts: AccountService,
    jobs: JobService,
    tenant: str,
    start_date: date | None,
    end_date: date | None,
) -> Usage:
    start = start_date.isoformat() if start_date else None
    end = end_date.isoformat() if end_date else None
    return Usage.of(
        tenant,
        await accounts.usage(tenant, start, end),
        start,
        end,
        await jobs.store.storage_bytes(tenant),
        await accounts.quotas(tenant),
    )


@router.get("/usage")
async def get_usage(
    caller: CallerDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    start_date: date | None = None,
    end_date: date | None = None,
    tenant: str | None = None,
) -> Usage:
    """Tokens, audio and video seconds and jobs of your tenant, by UTC day and in total, from
    start_date to end_date (inclusive; default: all); `tenant` is for admin keys."""
    name = tenant or caller.name
    if name != caller.name and not caller.is_admin:  # as if it did not exist
        raise APIError(404, f"No tenant named '{name}'", param="tenant", code="tenant_not_found")
    return await usage_report(accounts, jobs, name, start_date, end_date)


@router.post("/purge")
async def purge(body: PurgeRequest, caller: CallerDep, retention: RetentionDep) -> PurgeResult:
    """Delete every job (cancelling those not finished), artifact, upload and glossary of your
    tenant now; the body names your tenant to confirm. Usage and the audit log are kept."""
    body.confirm(caller.name)
    return PurgeResult.of(await retention.purge(caller.name, actor=caller.actor))
