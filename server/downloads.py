"""Artifact downloads with Range requests as RFC 9110 says: plain files through Starlette's
FileResponse, encrypted ones decrypted as they stream. An invalid Range is ignored (the whole
file); one that cannot be satisfied is a 416 with `Content-Range: bytes */size` and an
OpenAI-shaped error body."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from pipelines.platform.jobs.artifacts import ArtifactFiles
from pipelines.platform.jobs.types import ArtifactRecord
from server.errors import error_body

# One range (the multipart answer to several is FileResponse's, for plain files only).
RANGE = re.compile(r"^bytes\s*=\s*(\d*)\s*-\s*(\d*)$", re.IGNORECASE)


class _ArtifactFile(FileResponse):
    """A FileResponse that ignores a Range it cannot honour rather than answer 400 or 416 in
    plain text: artifact_response has already answered the unsatisfiable ones in JSON."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except (MalformedRangeHeader, RangeNotSatisfiable):
            return []  # the whole file


def artifact_response(
    request: Request, record: ArtifactRecord, path: Path, files: ArtifactFiles
) -> Response:
    size = record.size
    etag = f'"{record.sha256}"'
    http_range = request.headers.get("range")
    if request.headers.get("if-range", etag) != etag:
        http_range = None  # the file changed since the client's copy: it gets the whole one
    wanted = _byte_range(http_range, size)
    if wanted is None:
        return JSONResponse(
            error_body(
                416,
                f"The range '{http_range}' is outside the file's {size} bytes.",
                param="range",
                code="range_not_satisfiable",
            ),
            status_code=416,
            headers={"Content-Range": f"bytes */{size}"},
        )
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{record.name}"',
    }
    if files.cipher is None:
        return _ArtifactFile(
            path,
            media_type=record.content_type,
            filename=record.name,
            content_disposition_type="inline",
            headers={"ETag": etag},
        )
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
    """(start, end) inclusive; the whole file when there is no usable single range (none,
    several, or an invalid one: RFC 9110 §14.2 says to ignore it); None when the range cannot
    be satisfied (416)."""
    whole = (0, size - 1)
    match = RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return whole
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return None
        return (max(size - length, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return whole  # invalid, so ignored
    if start >= size:
        return None
    return (start, min(int(last), size - 1) if last else size - 1)
