"""Dub a video: the form a merchant fills in instead of calling POST /v1/video/dubbings, and its
answer, one job per uploaded file (server.dubbing_uploads.start_dubbing, as the API).

dub.js sends the files one at a time (each file's result shows as soon as its job exists, and
each request stays under the upload limit); without scripts the form posts them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from pipelines.coverage import language_coverage
from pipelines.platform.jobs.types import JobRecord
from pipelines.video.dubbing_input import JOB_TYPE
from server.console.job_view import MODE_LABELS
from server.console.messages import error_message
from server.console.pages import is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.dubbing_uploads import start_dubbing
from server.errors import APIError, as_api_error
from server.schemas.video import dubbing_fields
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PRETICKED = ("zh", "en")
# the form's fields that are the API's own (the rest: the clips, own scripts, the CSRF token)
API_FIELDS = ("mode", "languages", "keywords", "product_facts", "glossary", "burn_in_subtitles")
SCRIPT_FIELD = "script_"  # + language code: a textarea
SCRIPT_FILE_FIELD = "script_file_"  # + language code: an .srt or .txt file, over the textarea


@dataclass(frozen=True)
class DubResult:
    """One uploaded file: the job it became, or why it did not."""

    filename: str
    job: JobRecord | None = None
    error: str = ""
    code: str = ""


@router.get("/dub")
async def dub_page(request: Request) -> Response:
    return render(request, "dub.html", **await _form_context(request), results=[])


@router.post("/dub")
async def dub(request: Request) -> Response:
    """A job per file; a file refused (not a video, too long...) is reported in its place."""
    form = await request.form()
    clips = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    if not clips:
        raise APIError(400, "Choose a video file first.", param="file", code="missing_file")
    options = [(k, v) for k, v in form.multi_items() if k in API_FIELDS and v != ""]
    scripts = await _scripts(form)
    limit = await _upload_limit(request)
    results = [await _one_job(request, clip, options, scripts, limit) for clip in clips]
    status = 400 if all(r.job is None for r in results) else 200
    if is_htmx(request):
        return render(request, "dub_results.html", status=status, results=results)
    context = await _form_context(request)
    return render(request, "dub.html", status=status, **context, results=results)


async def _one_job(
    request: Request,
    clip: UploadFile,
    options: list[tuple[str, Any]],
    scripts: dict[str, str],
    limit: int,
) -> DubResult:
    services, viewer = app_services(request), viewer_of(request)
    name = clip.filename or ""
    try:
        if (clip.size or 0) > limit:  # the tenant's quota: the body limit knows only API keys
            raise APIError(413, f"The limit is {limit} bytes.", code="request_too_large")
        upload, fields = dubbing_fields(FormData([("file", clip), *options]))
        if fields.get("mode") == "own":
            chosen = fields.get("languages", [])
            fields["scripts"] = {code: text for code, text in scripts.items() if code in chosen}
        assert viewer.account is not None
        job = await start_dubbing(
            services.jobs, services.settings, viewer.tenant, upload, fields, viewer.account.actor
        )
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            raise
        return DubResult(name, error=error_message(request, error), code=error.code or "")
    return DubResult(name, job=job)


async def _scripts(form: FormData) -> dict[str, str]:
    """Own scripts by language: an uploaded file where one was chosen, else the textarea."""
    scripts = {
        key.removeprefix(SCRIPT_FIELD): value.strip()
        for key, value in form.multi_items()
        if key.startswith(SCRIPT_FIELD) and isinstance(value, str) and value.strip()
    }
    for key, value in form.multi_items():
        if key.startswith(SCRIPT_FILE_FIELD) and isinstance(value, UploadFile) and value.filename:
            raw = await value.read()
            try:
                scripts[key.removeprefix(SCRIPT_FILE_FIELD)] = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise APIError(
                    400, "A script file must be UTF-8 text.", param=key, code="invalid_script"
                ) from exc
    return scripts


async def _form_context(request: Request) -> dict[str, Any]:
    """What the form offers: the languages the server can dub (a voice, and a chat model not
    measured unusable in it) with the chat model's rating and figure, the tenant's glossaries,
    and the upload limit dub.js checks."""
    services, tenant = app_services(request), viewer_of(request).tenant
    report = await language_coverage(services.jobs.services, None)
    languages = [
        lang for lang in report.languages if lang.tts.voices and lang.chat.rating != "unusable"
    ]
    glossaries = await services.jobs.services.glossaries.list_glossaries(tenant)
    return {
        "enabled": JOB_TYPE in services.jobs.types,
        "languages": languages,
        "preticked": PRETICKED,
        "glossaries": [g.name for g in glossaries],
        "modes": MODE_LABELS,
        "max_upload": await _upload_limit(request),
    }


async def _upload_limit(request: Request) -> int:
    """The largest clip the viewer may upload: the server's limit, or their quota if lower."""
    services = app_services(request)
    limit = services.settings.server.max_upload_bytes
    quota = (await services.accounts.quotas(viewer_of(request).tenant)).max_upload_bytes
    return min(limit, quota) if quota else limit
