"""POST /v1/chat/completions and /v1/completions: parse, call the text service, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from server import sse
from server.deps import TenantDep
from server.schemas.text import ChatCompletion, ChatCompletionRequest, Completion, CompletionRequest
from server.serving_text import TextService

router = APIRouter(prefix="/v1", tags=["text"])


ServiceDep = Annotated[TextService, Depends(TextService.per_request)]


def _respond(result: Any) -> Any:
    if isinstance(result, ChatCompletion | Completion):
        return result
    return sse.event_stream(result)


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
