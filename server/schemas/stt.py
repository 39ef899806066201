"""Schemas of the OpenAI audio API: transcriptions and translations, requests, responses, stream events."""

from __future__ import annotations

from typing import Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TIMESTAMP_GRANULARITIES = ("segment", "word")


# --- requests (multipart/form-data) -------------------------------------------------------------
def _form_boolean(schema: JsonDict) -> None:
    """A form field is left out, never null: state `bool | None` (default None) as a plain
    boolean without a default."""
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "boolean"


class TranslationRequest(BaseModel):
    """Form fields of POST /v1/audio/translations (always into English)."""

    model_config = ConfigDict(extra="ignore")

    # spooled to disk past 1 MiB by Starlette; the app caps the whole body
    file: UploadFile
    model: str
    prompt: str | None = None
    # plain strings, checked by the service so a bad value gets a message naming the choices
    response_format: str = "json"
    temperature: float = 0.0
    # extension: stream segments as server-sent events, as transcriptions do
    stream: bool = False
    # extension: Whisper invents words in silence, music or a tone ("You", whole sentences)
    vad_filter: bool | None = Field(
        None,
        description="true: decode only what voice activity detection (Silero VAD) hears as "
        "speech, so audio without speech gives no segments and empty text; false: decode all "
        "of it; unset: the model's configured default (off unless the config says so)",
        json_schema_extra=_form_boolean,
    )


class TranscriptionRequest(TranslationRequest):
    """Form fields of POST /v1/audio/transcriptions."""

    language: str | None = None
    # OpenAI clients send the list as repeated `timestamp_granularities[]` fields
    timestamp_granularities: list[str] = Field(
        default_factory=list, alias="timestamp_granularities[]"
    )


# --- responses ----------------------------------------------------------------------------------
class DurationUsage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float
    # extension: Whisper's confidence in the word
    probability: float | None = None


class TranscriptionSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class Transcription(BaseModel):
    """response_format=json."""

    text: str
    usage: DurationUsage | None = None


class TranscriptionVerbose(BaseModel):
    """response_format=verbose_json (translations use it too, with task 'translate')."""

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str = Field(description="English name, as OpenAI gives it: 'english', 'german'")
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: DurationUsage | None = None


# --- stream events (stream=true) ------------------------------------------------------------
class TranscriptTextSegmentEvent(BaseModel):
    """One decoded segment. OpenAI sends it for diarized output; we send it for every segment."""

    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str
    start: float
    end: float
    text: str
    # extension: the segment's words when word timestamps were asked for
    words: list[TranscriptionWord] | None = None


class TranscriptTextDeltaEvent(BaseModel):
    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str
    segment_id: str | None = None


class TranscriptTextDoneEvent(BaseModel):
    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str
    # extensions: what verbose_json carries up front
    language: str
    duration: float
