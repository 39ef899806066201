"""Schemas of the OpenAI speech API (`POST /v1/audio/speech`) and our voice listing extension."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from models.tts.base import SPEAKABLE, speakable
from models.tts.encode import MAX_SPEED, MIN_SPEED, AudioFormat

MAX_INPUT_CHARS = 4096  # OpenAI's limit for `input`


class SpeechRequest(BaseModel):
    model: str
    # Control characters (NUL...) are dropped, tab and line breaks kept; what is left must hold
    # something to say. The pattern is stated for clients; the validator below applies it.
    input: str = Field(
        max_length=MAX_INPUT_CHARS,
        description="the text to speak; control characters other than tab and line breaks "
        "are dropped",
        json_schema_extra={"pattern": SPEAKABLE.pattern},
    )
    # A voice id of the model, a language code of its language map ("zh"), or an OpenAI
    # stock name ("alloy": the model's default voice); also OpenAI's object form {"id": ...}.
    # See GET /v1/audio/voices.
    voice: str
    response_format: AudioFormat = "mp3"
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    # Accepted for compatibility; the engines here have no instruction-following prosody.
    instructions: str | None = Field(None, max_length=MAX_INPUT_CHARS)
    # "audio": the encoded file, sent in chunks as sentences are spoken. OpenAI's "sse" is
    # parsed, to be refused with a message saying so, but not offered in the schema.
    stream_format: Literal["audio", "sse"] = Field("audio", json_schema_extra={"enum": ["audio"]})

    @field_validator("input")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not SPEAKABLE.search(value):
            raise ValueError("input must contain text to speak")
        return speakable(value)

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_id(cls, value: Any) -> Any:
        return value.get("id") if isinstance(value, dict) else value


# --- GET /v1/audio/voices (extension) ---------------------------------------------------------
class VoiceCard(BaseModel):
    id: str
    object: Literal["voice"] = "voice"
    model: str
    name: str | None = None
    languages: list[str]
    gender: str | None = None
    # language codes (of the model's language map) that select this voice, e.g. ["zh"]
    default_for: list[str] = Field(default_factory=list)
    default: bool = False  # the voice behind OpenAI stock names (alloy, ...)


class VoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VoiceCard]
