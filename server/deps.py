"""FastAPI dependencies: the services the composition root built, and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.registry import ModelRegistry
from pipelines.platform.accounts.retention import Retention
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.jobs.service import JobService
from pipelines.platform.jobs.store import GlossaryStore
from pipelines.settings import Settings
from pipelines.text.service import TextPipelines
from server.limits import InflightGate
from server.state import app_services
from server.tenancy import CallerDep

# The lookups are `async def` though they never await: FastAPI runs a plain `def` dependency in
# its thread pool, a hop to another thread and back on every request for an attribute read.


async def get_settings(request: Request) -> Settings:
    return app_services(request).settings


async def get_registry(request: Request) -> ModelRegistry:
    return app_services(request).registry


async def get_accounts(request: Request) -> AccountService:
    return app_services(request).accounts


async def get_jobs(request: Request) -> JobService:
    return app_services(request).jobs


async def get_glossaries(request: Request) -> GlossaryStore:
    return app_services(request).jobs.services.glossaries


async def get_retention(request: Request) -> Retention:
    return app_services(request).retention


async def get_text_pipelines(request: Request) -> TextPipelines:
    return app_services(request).text


async def get_gate(request: Request) -> InflightGate:
    return app_services(request).gate


async def get_tenant(caller: CallerDep) -> str:
    """The calling tenant's name (see server.tenancy for keys, roles and quotas)."""
    return caller.name


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
AccountsDep = Annotated[AccountService, Depends(get_accounts)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
GlossariesDep = Annotated[GlossaryStore, Depends(get_glossaries)]
RetentionDep = Annotated[Retention, Depends(get_retention)]
TextPipelinesDep = Annotated[TextPipelines, Depends(get_text_pipelines)]
GateDep = Annotated[InflightGate, Depends(get_gate)]
TenantDep = Annotated[str, Depends(get_tenant)]
