"""GET /v1/models and /v1/models/{id}."""

from __future__ import annotations

from fastapi import APIRouter

from models.registry import ModelRegistry
from models.spec import ModelSpec
from server.deps import RegistryDep, TenantDep
from server.schemas.text import ModelCard, ModelList

router = APIRouter(prefix="/v1", tags=["models"])


def _card(spec: ModelSpec, registry: ModelRegistry) -> ModelCard:
    return ModelCard(
        id=spec.id,
        created=registry.created(spec),
        kind=spec.kind,
        backend=spec.backend,
        aliases=spec.aliases,
        licence=spec.licence,
        loaded=registry.is_loaded(spec.id),
        parallelism=spec.parallelism or None,
    )


@router.get("/models")
async def list_models(registry: RegistryDep, _: TenantDep) -> ModelList:
    return ModelList(data=[_card(spec, registry) for spec in registry.specs()])


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, registry: RegistryDep, _: TenantDep) -> ModelCard:
    return _card(registry.resolve(model_id), registry)
