"""POST /tokenize and /detokenize (vLLM's paths and shapes, outside /v1 as in vLLM's server)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from server.deps import TenantDep
from server.schemas.tokenize import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
)
from server.serving_tokenize import TokenizeService

router = APIRouter(tags=["text"])

ServiceDep = Annotated[TokenizeService, Depends(TokenizeService.per_request)]


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, service: ServiceDep, _: TenantDep) -> TokenizeResponse:
    return await service.tokenize(body)


@router.post("/detokenize")
async def detokenize(
    body: DetokenizeRequest, service: ServiceDep, _: TenantDep
) -> DetokenizeResponse:
    return await service.detokenize(body)
