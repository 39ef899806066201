"""POST /v1/embeddings: parse, call the embedding service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from server.deps import RegistryDep, TenantDep
from server.metering import MeterDep
from server.schemas.embeddings import CreateEmbeddingRequest, CreateEmbeddingResponse
from server.serving_embeddings import EmbeddingService

router = APIRouter(prefix="/v1", tags=["embeddings"])


def get_embedding_service(
    request: Request, registry: RegistryDep, meter: MeterDep
) -> EmbeddingService:
    return EmbeddingService(registry, request.app.state.gate, meter)


ServiceDep = Annotated[EmbeddingService, Depends(get_embedding_service)]


@router.post("/embeddings")
async def create_embeddings(
    body: CreateEmbeddingRequest, service: ServiceDep, _: TenantDep
) -> CreateEmbeddingResponse:
    return await service.create(body)
