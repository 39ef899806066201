"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from server.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Live: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(registry: RegistryDep) -> JSONResponse:
    """Ready: every configured model has its weights on disk (loadable) or is loaded already."""
    missing = [
        spec.id
        for spec in registry.specs()
        if not registry.is_loaded(spec.id) and spec.path and not registry.path_of(spec).exists()
    ]
    status = 503 if missing else 200
    body = {"status": "not_ready" if missing else "ready", "missing_weights": missing}
    return JSONResponse(body, status_code=status)
