"""POST /v1/audio/transcriptions and /v1/audio/translations: parse the form, call the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from server.deps import RegistryDep, TenantDep
from server.schemas.stt import TranscriptionRequest, TranslationRequest
from server.serving_stt import SpeechToTextService

router = APIRouter(prefix="/v1/audio", tags=["audio"])


def get_stt_service(request: Request, registry: RegistryDep) -> SpeechToTextService:
    return SpeechToTextService(registry, request.app.state.gate)


ServiceDep = Annotated[SpeechToTextService, Depends(get_stt_service)]


@router.post("/transcriptions", response_model=None)
async def create_transcription(
    body: Annotated[TranscriptionRequest, Form()],
    request: Request,
    service: ServiceDep,
    _: TenantDep,
) -> Response:
    return await service.transcribe(body, request)


@router.post("/translations", response_model=None)
async def create_translation(
    body: Annotated[TranslationRequest, Form()],
    request: Request,
    service: ServiceDep,
    _: TenantDep,
) -> Response:
    return await service.translate(body, request)
