"""Form fields of `POST /v1/video/dubbings` (multipart: the clip plus the job's options).

The answer is the job object of /v1/jobs; the fields become the `video_dubbing` job's input
(pipelines.video.job.DubbingInput), which documents each of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import FormData, UploadFile

from server.errors import APIError

# fields that may be repeated, or given once as a comma-separated list
LIST_FIELDS = ("languages", "keywords")
JSON_FIELDS = ("voices", "glossary_entries")
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
    for key in {k for k in form if k != "file"}:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        if len(values) != len(form.getlist(key)):
            raise APIError(400, f"'{key}' must be a text field, not a file", param=key)
        if key in LIST_FIELDS:
            parts = values if len(values) > 1 else _SPLIT.split(values[0])
            fields[key] = [p.strip() for p in parts if p.strip()]
        elif key in JSON_FIELDS:
            try:
                fields[key] = json.loads(values[-1])
            except json.JSONDecodeError as exc:
                raise APIError(400, f"'{key}' must be JSON: {exc}", param=key) from exc
        else:
            fields[key] = values[-1]
    return upload, fields
