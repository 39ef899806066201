"""POST /v1/embeddings: parse, call the embedding service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from server.deps import TenantDep
from server.schemas.embeddings import CreateEmbeddingRequest, CreateEmbeddingResponse
from server.serving_embeddings import EmbeddingService

router = APIRouter(prefix="/v1", tags=["embeddings"])


ServiceDep = Annotated[EmbeddingService, Depends(EmbeddingService.per_request)]


@router.post("/embeddings")
async def create_embeddings(
    body: CreateEmbeddingRequest, service: ServiceDep, _: TenantDep
) -> CreateEmbeddingResponse:
    return await service.create(body)
