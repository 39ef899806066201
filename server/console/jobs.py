"""The merchant's jobs: the list, a job's page with its live progress (server-sent HTML), its
files (for the <video> preview and the downloads) and cancelling it.

Everything is rendered from the stored job, so a reload or another browser picks up where the
job is; another tenant's job is a 404 like one that does not exist (JobService.get).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from pipelines.errors import NotFound
from pipelines.platform.jobs.types import JobRecord, JobState
from server import sse
from server.console.i18n import N_
from server.console.job_view import (
    MODE_LABELS,
    STATE_LABELS,
    TYPE_LABELS,
    VERDICT_LABELS,
    language_views,
    stage_rows,
    when,
)
from server.console.messages import error_message
from server.console.pages import gettext_for, is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.downloads import artifact_response
from server.errors import APIError, as_api_error
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
LIST_LIMIT = 200
ALREADY_ENDED = {
    JobState.SUCCEEDED: N_("This job has already finished: there is nothing to cancel."),
    JobState.FAILED: N_("This job has already stopped with an error: there is nothing to cancel."),
    JobState.CANCELLED: N_("This job was already cancelled."),
}


@router.get("/jobs")
async def jobs_page(request: Request, state: str = "", type: str = "") -> Response:
    """Newest first; a filter the server does not know is ignored rather than refused."""
    jobs = app_services(request).jobs
    wanted = JobState(state) if state in set(JobState) else None
    kind = type if type in jobs.types else ""
    found = await jobs.list(viewer_of(request).tenant, wanted, LIST_LIMIT)
    if kind:
        found = [job for job in found if job.type == kind]
    return render(
        request,
        "jobs.html",
        jobs=found,
        state=wanted.value if wanted else "",
        type=kind,
        states=STATE_LABELS,
        types={name: TYPE_LABELS.get(name, name) for name in jobs.types.names()},
        type_labels=TYPE_LABELS,
        when=when,
    )


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    job = await app_services(request).jobs.get(viewer_of(request).tenant, job_id)
    return render(request, "job.html", **_job_context(request, job))


@router.get("/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str) -> StreamingResponse:
    """`job` events carrying the job's state as HTML at each change, then `end` (the page's
    sse-close) once it has ended; it starts from the stored job, so it resumes anywhere."""
    jobs, tenant = app_services(request).jobs, viewer_of(request).tenant
    await jobs.get(tenant, job_id)  # 404 now, not inside an already started stream

    async def stream() -> AsyncIterator[str]:
        try:
            async for job in jobs.watch(tenant, job_id):
                if job is None:
                    yield sse.KEEP_ALIVE
                else:
                    yield _html_event("job", _fragment(request, job))
        except NotFound as exc:  # deleted while watched (from another tab)
            error = as_api_error(exc)
            assert error is not None
            message = error_message(request, error)
            html = _text(request, "error_fragment.html", message=message, code=error.code)
            yield _html_event("job", html)
        yield _html_event("end", "")

    return sse.event_stream(stream())


# two routes, not api_route(methods=[GET, HEAD]), as in the API's download route
@router.get("/jobs/{job_id}/files/{name}")
@router.head("/jobs/{job_id}/files/{name}")
async def job_file(request: Request, job_id: str, name: str) -> Response:
    """A file of the job, as the API serves it (Range requests let the <video> seek)."""
    jobs = app_services(request).jobs
    record, path = await jobs.artifact(viewer_of(request).tenant, job_id, name)
    return artifact_response(request, record, path, jobs.files)


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a queued or running job. One that has ended (perhaps cancelled from another tab)
    is left as it is, with a message saying so: the API's DELETE would delete it."""
    viewer, jobs = viewer_of(request), app_services(request).jobs
    _ = gettext_for(request)
    job = await jobs.get(viewer.tenant, job_id)
    if job.state.finished:
        notice, status = _(ALREADY_ENDED[job.state]), 409
    else:
        assert viewer.account is not None
        job, _deleted = await jobs.cancel(viewer.tenant, job_id, actor=viewer.account.actor)
        notice, status = _("The job was cancelled."), 200
    if is_htmx(request):
        return render(request, "job_notice.html", status=status, notice=notice)
    return render(request, "job.html", status=status, notice=notice, **_job_context(request, job))


def _job_context(request: Request, job: JobRecord) -> dict[str, Any]:
    jobs = app_services(request).jobs
    job_type = jobs.types.get(job.type) if job.type in jobs.types else None
    error = job.error or {}
    return {
        "job": job,
        "stages": stage_rows(job, job_type),
        "languages": language_views(job) if job.type == "video_dubbing" else [],
        "error_text": _error_text(request, error) if error else "",
        "state_labels": STATE_LABELS,
        "type_labels": TYPE_LABELS,
        "mode_labels": MODE_LABELS,
        "verdict_labels": VERDICT_LABELS,
        "when": when,
    }


def _error_text(request: Request, error: dict[str, Any]) -> str:
    """Why the job failed, in the viewer's language where the catalog knows the code."""
    failure = APIError(500, str(error.get("message", "")), code=error.get("code"))
    return error_message(request, failure)


def _fragment(request: Request, job: JobRecord) -> str:
    return _text(request, "job_state.html", **_job_context(request, job))


def _text(request: Request, template: str, **context: Any) -> str:
    """A fragment as text, for an event (render's page, without the response around it)."""
    return bytes(render(request, template, **context).body).decode()


def _html_event(name: str, html: str) -> str:
    """One named event whose data is `html`, a line of data per line (the SSE framing)."""
    lines = html.splitlines() or [""]
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
