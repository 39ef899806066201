"""Form fields of `POST /v1/video/dubbings` (multipart: the clip plus the job's options), and
the body of `POST /v1/video/dubbings/{job_id}/redub`.

The answer is the job object of /v1/jobs; the fields become the `video_dubbing` job's input
(pipelines.video.dubbing_job.DubbingInput), which documents each of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData, UploadFile

from pipelines.languages import LanguageCode
from pipelines.video.dubbing_input import DubbingInput
from pipelines.video.own_script import Cue
from server.errors import APIError

# fields that may be repeated, or given once as a comma-separated list
LIST_FIELDS = ("languages", "keywords")
JSON_FIELDS = ("voices", "tts_models", "glossary_entries", "scripts")
# mode own: a language's script may also come as its own field, `scripts.<language>` (curl:
# -F "scripts.en=<en.srt"), over that language in the JSON field `scripts`
SCRIPT_FIELD = re.compile(r"^scripts\.([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)$")
FORM_ONLY = ("upload_id", "parent_job")  # the route makes the one from `file`; no re-dub here
_SPLIT = re.compile(r"[,，、\n]")


def dubbing_fields(form: FormData) -> tuple[UploadFile, dict[str, Any]]:
    """The uploaded clip and the other fields as a dict for DubbingInput."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise APIError(
            400,
            "Attach the video as the multipart field 'file'.",
            param="file",
            code="missing_file",
        )
    fields: dict[str, Any] = {}
    scripts: dict[str, str] = {}
    for key in sorted({k for k in form if k != "file"}):
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        if len(values) != len(form.getlist(key)):
            raise APIError(400, f"'{key}' must be a text field, not a file", param=key)
        if script := SCRIPT_FIELD.match(key):
            scripts[script.group(1)] = values[-1]
        elif key in LIST_FIELDS:
            parts = values if len(values) > 1 else _SPLIT.split(values[0])
            fields[key] = [p.strip() for p in parts if p.strip()]
        elif key in JSON_FIELDS:
            try:
                fields[key] = json.loads(values[-1])
            except json.JSONDecodeError as exc:
                raise APIError(400, f"'{key}' must be JSON: {exc}", param=key) from exc
        else:
            fields[key] = values[-1]
    if scripts:
        given = fields.get("scripts")
        fields["scripts"] = {**given, **scripts} if isinstance(given, dict) else scripts
    return upload, fields


def dubbing_request_body() -> dict[str, Any]:
    """The OpenAPI requestBody of the route, built from DubbingInput so the two cannot drift.

    The form is parsed by hand (lists as repeated or comma-separated fields, JSON fields), so
    FastAPI cannot describe it from the signature.
    """
    model = DubbingInput.model_json_schema()
    fields: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "the video clip"}
    }
    for name, schema in model["properties"].items():
        if name in FORM_ONLY:
            continue
        notes = {k: v for k, v in schema.items() if k in ("title", "description")}
        if name in JSON_FIELDS:
            schema = {**notes, "type": "string", "contentMediaType": "application/json"}
        elif "anyOf" in schema:  # `X | None`: a form field is absent, never null
            schema = {**notes, **next(o for o in schema["anyOf"] if o.get("type") != "null")}
        fields[name] = schema
    required = ["file", *(r for r in model.get("required", []) if r not in FORM_ONLY)]
    form = {
        "type": "object",
        "properties": fields,
        "patternProperties": {
            SCRIPT_FIELD.pattern: {
                "type": "string",
                "description": "mode own: one language's script",
            }
        },
        "required": required,
        "additionalProperties": False,  # DubbingInput forbids extra fields
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": form}}}


class RedubLine(BaseModel):
    """One edited line: spoken from `start` to `end` (seconds in the clip)."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(ge=0)
    end: float = Field(gt=0)
    text: str = Field(min_length=1, max_length=1000)

    def cue(self) -> Cue:
        return Cue(self.start, self.end, self.text)


class RedubRequest(BaseModel):
    """Body of `POST /v1/video/dubbings/{job_id}/redub`: the new lines of the languages to
    re-voice; the job's other languages are carried over unchanged."""

    model_config = ConfigDict(extra="forbid")

    lines: dict[LanguageCode, list[RedubLine]] = Field(
        min_length=1, description="language -> its lines, ordered, inside the clip, not overlapping"
    )

    def cues(self) -> dict[str, list[Cue]]:
        """The lines as the re-dub takes them (pipelines.video.redub)."""
        return {code: [line.cue() for line in lines] for code, lines in self.lines.items()}
