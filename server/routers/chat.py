"""POST /v1/chat/completions and /v1/completions: parse, call the text service, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from server.deps import RegistryDep, TenantDep
from server.metering import MeterDep
from server.schemas.text import ChatCompletion, ChatCompletionRequest, Completion, CompletionRequest
from server.serving_text import TextService

router = APIRouter(prefix="/v1", tags=["text"])


def get_text_service(request: Request, registry: RegistryDep, meter: MeterDep) -> TextService:
    return TextService(registry, request.app.state.gate, meter)


ServiceDep = Annotated[TextService, Depends(get_text_service)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _respond(result: Any) -> Any:
    if isinstance(result, ChatCompletion | Completion):
        return result
    return StreamingResponse(result, media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, service: ServiceDep, _: TenantDep
) -> ChatCompletion | StreamingResponse:
    return _respond(await service.chat(body, request))


@router.post("/completions", response_model=None)
async def completions(
    body: CompletionRequest, request: Request, service: ServiceDep, _: TenantDep
) -> Completion | StreamingResponse:
    return _respond(await service.complete(body, request))
