"""/v1/usage and /v1/purge: what the caller's tenant used, and deleting all its data at once.

The router's lifespan runs the retention sweeper (it needs the job service, so this router is
included after the jobs router).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request

from pipelines.accounts.retention import Retention, sweeping
from pipelines.accounts.service import AccountService
from pipelines.jobs.service import JobService
from server.errors import APIError
from server.routers.jobs import JobsDep
from server.schemas.accounts import PurgeResult, Usage
from server.tenancy import CallerDep, get_accounts


@asynccontextmanager
async def retention_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    retention = Retention(
        app.state.jobs, app.state.accounts, settings.data_dir, settings.tenants.sweep_interval_s
    )
    app.state.retention = retention
    async with sweeping(retention):
        yield


router = APIRouter(prefix="/v1", tags=["account"], lifespan=retention_lifespan)
AccountsDep = Annotated[AccountService, Depends(get_accounts)]


def get_retention(request: Request) -> Retention:
    retention: Retention | None = getattr(request.app.state, "retention", None)
    if retention is None:
        raise APIError(503, "The job system is not running.", code="jobs_unavailable")
    return retention


RetentionDep = Annotated[Retention, Depends(get_retention)]


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
async def purge(caller: CallerDep, retention: RetentionDep) -> PurgeResult:
    """Delete every job (cancelling those not finished), artifact, upload and glossary of your
    tenant now. Usage and the audit log are kept."""
    erased = await retention.purge(caller.name, actor=caller.actor)
    return PurgeResult(
        tenant=caller.name,
        jobs_deleted=len(erased.jobs),
        uploads_deleted=len(erased.uploads),
        glossaries_deleted=erased.glossaries,
    )
