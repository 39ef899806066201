"""Edit and re-dub: a finished dub's lines per language (text, start, end) beside its preview;
re-dubbing voices, mixes, muxes and checks only the languages whose lines changed, as a new job
(the earlier one stays until the merchant deletes it)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pipelines.errors import InvalidInput
from pipelines.platform.jobs.types import JobRecord
from pipelines.video.parent import check_parent
from pipelines.video.redub import redub
from server.console.pages import render, viewer_of
from server.console.routing import ConsoleRoute
from server.console.text import validated
from server.schemas.video import RedubRequest
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MAX_LINES_FIELD = 1_000_000  # characters of the edited lines' JSON


@router.get("/jobs/{job_id}/edit")
async def edit_page(job_id: str, request: Request) -> Response:
    job = await _finished_dub(request, job_id)
    languages = []
    for code in (job.result or {})["languages"]:
        script = json.loads(await _read_artifact(request, job, f"{code}.script.json"))
        lines = [
            {"start": line["start"], "end": line["end"], "text": line["text"]}
            for line in script["lines"]
        ]
        languages.append({"code": code, "lines": lines})
    duration = float((job.result or {})["input"]["duration_s"])
    return render(request, "edit.html", job=job, languages=languages, duration=duration)


@router.post("/jobs/{job_id}/redub")
async def redub_page(
    job_id: str, request: Request, lines: Annotated[str, Form(max_length=MAX_LINES_FIELD)]
) -> Response:
    """The edited lines (JSON: language -> [{start, end, text}]) become a new dubbing job, as
    `POST /v1/video/dubbings/{job_id}/redub` makes it; the page then follows the new job."""
    try:
        sent = json.loads(lines)
    except json.JSONDecodeError as exc:
        raise InvalidInput("The edited lines are not JSON", param="lines") from exc
    if not sent:
        raise InvalidInput(
            "Change at least one line before re-dubbing", param="lines", code="nothing_edited"
        )
    body = validated(RedubRequest, {"lines": sent})
    job = await redub(app_services(request).jobs, viewer_of(request).tenant, job_id, body.cues())
    return Response(status_code=204, headers={"HX-Redirect": f"/jobs/{job.id}"})


async def _finished_dub(request: Request, job_id: str) -> JobRecord:
    """The job, if it is a dub that can be re-dubbed (the API's rule: a Conflict otherwise)."""
    job = await app_services(request).jobs.get(viewer_of(request).tenant, job_id)
    check_parent(job)
    return job


async def _read_artifact(request: Request, job: JobRecord, name: str) -> bytes:
    jobs = app_services(request).jobs
    _, path = await jobs.artifact(job.tenant, job.id, name)
    return await asyncio.to_thread(lambda: b"".join(jobs.files.read(path)))
