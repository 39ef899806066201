"""POST /v1/audio/transcriptions and /v1/audio/translations: parse the form, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request
from fastapi.responses import Response

from server.deps import TenantDep
from server.schemas.stt import TranscriptionRequest, TranslationRequest
from server.serving_stt import SpeechToTextService

router = APIRouter(prefix="/v1/audio", tags=["audio"])


ServiceDep = Annotated[SpeechToTextService, Depends(SpeechToTextService.per_request)]


# File(), not Form(): the same form fields, but the OpenAPI document then says
# multipart/form-data (with `file` binary) instead of a urlencoded body that cannot carry it.
@router.post("/transcriptions", response_model=None)
async def create_transcription(
    body: Annotated[TranscriptionRequest, File()],
    request: Request,
    service: ServiceDep,
    _: TenantDep,
) -> Response:
    return await service.transcribe(body, request)


@router.post("/translations", response_model=None)
async def create_translation(
    body: Annotated[TranslationRequest, File()],
    request: Request,
    service: ServiceDep,
    _: TenantDep,
) -> Response:
    return await service.translate(body, request)
