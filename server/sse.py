"""Server-sent events: how every streamed answer (chat, transcription, job progress) is framed."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

import orjson
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

# proxies (nginx) must pass each event on at once, and nothing may cache a live stream
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = "data: [DONE]\n\n"
KEEP_ALIVE = ": keep-alive\n\n"


def data(payload: str) -> str:
    return f"data: {payload}\n\n"


def event(model: BaseModel, name: str | None = None, exclude_none: bool = False) -> str:
    """One event carrying `model` as JSON, named `name` where the client dispatches on it."""
    line = data(model.model_dump_json(exclude_none=exclude_none))
    return f"event: {name}\n{line}" if name else line


def frame(payload: Mapping[str, Any]) -> bytes:
    """One unnamed event carrying `payload` (plain JSON values) as JSON, for the per-token hot
    path: orjson writes the same compact UTF-8 JSON as pydantic's model_dump_json, at a tenth
    of the cost of building and dumping a model for every chunk."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event_stream(events: AsyncIterable[str | bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
