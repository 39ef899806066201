"""FastAPI dependencies: settings, registry and the caller's tenant, taken from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.registry import ModelRegistry
from models.settings import Settings
from server.tenancy import CallerDep


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_tenant(caller: CallerDep) -> str:
    """The calling tenant's name (see server.tenancy for keys, roles and quotas)."""
    return caller.name


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
TenantDep = Annotated[str, Depends(get_tenant)]
