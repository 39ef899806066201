"""POST /v1/audio/speech and GET /v1/audio/voices (extension): parse, call the speech service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from models.tts.encode import OUTPUT_FORMATS
from server.deps import TenantDep
from server.schemas.tts import SpeechRequest, VoiceList
from server.serving_tts import SpeechResponse, SpeechService

router = APIRouter(prefix="/v1", tags=["audio"])


ServiceDep = Annotated[SpeechService, Depends(SpeechService.per_request)]


@router.post(
    "/audio/speech",
    response_model=None,
    responses={
        200: {
            "description": "The audio file, streamed as it is produced.",
            "content": {fmt.media_type: {} for fmt in OUTPUT_FORMATS.values()},
        }
    },
)
async def create_speech(body: SpeechRequest, service: ServiceDep, _: TenantDep) -> SpeechResponse:
    return SpeechResponse(await service.speak(body))


@router.get("/audio/voices")
async def list_voices(service: ServiceDep, _: TenantDep, model: str | None = None) -> VoiceList:
    """Voices of one TTS model (or of all), with their languages and the language codes that pick them."""
    return await service.voices(model)
