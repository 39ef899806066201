"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from models.registry import ModelRegistry
from server.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Live: the process answers."""
    return {"status": "ok"}


def missing_weights(registry: ModelRegistry) -> list[str]:
    """The models neither loaded nor loadable (weights not on disk): /ready and the console."""
    return [
        spec.id
        for spec in registry.specs()
        if not registry.is_loaded(spec.id) and spec.path and not registry.path_of(spec).exists()
    ]


@router.get("/ready")
async def ready(registry: RegistryDep) -> JSONResponse:
    """Ready: every configured model has its weights on disk (loadable) or is loaded already."""
    missing = missing_weights(registry)
    status = 503 if missing else 200
    body = {"status": "not_ready" if missing else "ready", "missing_weights": missing}
    return JSONResponse(body, status_code=status)
