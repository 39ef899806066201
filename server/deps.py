"""FastAPI dependencies: settings, registry and the caller's tenant, taken from app.state."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from models.registry import ModelRegistry
from models.settings import Settings
from server.errors import APIError


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def get_tenant(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """The tenant of the bearer key; with no keys configured (loopback only) everyone is 'default'."""
    tenant = _tenant_of(request, settings)
    request.state.tenant = tenant  # for the access log
    return tenant


def _tenant_of(request: Request, settings: Settings) -> str:
    keys = settings.server.api_keys
    if not keys:
        return "default"
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise APIError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    tenant = None
    for key in keys:  # compare with every key so timing does not tell which one matched
        if hmac.compare_digest(key.key.get_secret_value().encode(), token.encode()):
            tenant = key.tenant
    if tenant is None:
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
    return tenant


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
TenantDep = Annotated[str, Depends(get_tenant)]
