"""Artifact downloads: plain files as FileResponse; encrypted ones decrypted as they stream, with
the same single-range requests (video seeking, resumed downloads) a FileResponse answers."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from pipelines.platform.jobs.artifacts import ArtifactFiles
from pipelines.platform.jobs.types import ArtifactRecord

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def artifact_response(
    request: Request, record: ArtifactRecord, path: Path, files: ArtifactFiles
) -> Response:
    headers = {
        "ETag": f'"{record.sha256}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{record.name}"',
    }
    if files.cipher is None:
        return FileResponse(
            path,
            media_type=record.content_type,
            filename=record.name,
            content_disposition_type="inline",
            headers={"ETag": headers["ETag"]},
        )
    size = record.size
    wanted = _byte_range(request.headers.get("range"), size)
    if wanted is None:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted
    status = 200
    if (start, end) != (0, size - 1):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD" or end < start:
        return Response(status_code=status, headers=headers, media_type=record.content_type)
    return StreamingResponse(
        iterate_in_threadpool(files.read(path, start, end)),
        status_code=status,
        headers=headers,
        media_type=record.content_type,
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive; the whole file when there is no usable single range;
    None when the range cannot be satisfied (416)."""
    whole = (0, size - 1)
    match = RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return whole  # none, several ranges, or malformed: the whole file, as RFC 9110 allows
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return None
        return (max(size - length, 0), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return whole  # invalid, so ignored
    if start >= size:
        return None
    return (start, end)
