"""/v1/jobs: submit, inspect, list, cancel jobs; download artifacts; follow progress as SSE.

The router's lifespan starts the job service (store, recovery of interrupted jobs, workers)
after the app's own start-up, and stops it before the models are unloaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse

from pipelines.errors import PipelineError
from pipelines.jobs.service import JobService
from pipelines.jobs.types import JobState
from server.deps import TenantDep
from server.downloads import artifact_response
from server.errors import APIError
from server.schemas.jobs import Job, JobCreateRequest, JobList
from server.tenancy import CallerDep

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@asynccontextmanager
async def job_service_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # tests (and the video pipelines' tests) may put their own table of job types here
    types = getattr(app.state, "job_types", None)
    service = JobService.from_settings(
        app.state.settings, app.state.registry, types=types, policy=app.state.accounts
    )
    await service.start()
    app.state.jobs = service
    try:
        yield
    finally:
        await service.close()


router = APIRouter(prefix="/v1", tags=["jobs"], lifespan=job_service_lifespan)


def get_job_service(request: Request) -> JobService:
    service: JobService | None = getattr(request.app.state, "jobs", None)
    if service is None:
        raise APIError(503, "The job system is not running.", code="jobs_unavailable")
    return service


JobsDep = Annotated[JobService, Depends(get_job_service)]


@contextmanager
def pipeline_errors() -> Iterator[None]:
    """Render a pipeline's error as the OpenAI-shaped error of its status."""
    try:
        yield
    except PipelineError as exc:
        raise APIError(
            exc.status, exc.message, param=exc.param, code=exc.code, retry_after=exc.retry_after
        ) from exc


@router.post("/jobs")
async def create_job(body: JobCreateRequest, jobs: JobsDep, caller: CallerDep) -> Job:
    with pipeline_errors():
        job = await jobs.submit(caller.name, body.type, body.input, actor=caller.actor)
    return Job.from_record(job)


@router.get("/jobs")
async def list_jobs(
    jobs: JobsDep,
    tenant: TenantDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobList:
    return JobList(data=[Job.from_record(j) for j in await jobs.list(tenant, state, limit)])


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, jobs: JobsDep, tenant: TenantDep) -> Job:
    with pipeline_errors():
        return Job.from_record(await jobs.get(tenant, job_id))


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, jobs: JobsDep, caller: CallerDep) -> Job:
    """Cancel the job if it has not finished, and delete its artifacts (files and records) now."""
    with pipeline_errors():
        return Job.from_record(await jobs.cancel(caller.name, job_id, actor=caller.actor))


# two routes, not api_route(methods=[GET, HEAD]): that gives both one OpenAPI operationId
@router.get("/jobs/{job_id}/artifacts/{name}")
@router.head("/jobs/{job_id}/artifacts/{name}")
async def download_artifact(
    job_id: str, name: str, request: Request, jobs: JobsDep, tenant: TenantDep
) -> Response:
    """The file with its content type; Range requests (video seeking, resumed downloads) work."""
    with pipeline_errors():
        record, path = await jobs.artifact(tenant, job_id, name)
    return artifact_response(request, record, path, jobs.files)


@router.get("/jobs/{job_id}/events", response_model=None)
async def job_events(job_id: str, jobs: JobsDep, tenant: TenantDep) -> StreamingResponse:
    """Server-sent events: the job object at each change, then `data: [DONE]` once it ends."""
    with pipeline_errors():
        await jobs.get(tenant, job_id)  # 404 now, not inside an already started stream

    async def stream() -> AsyncIterator[str]:
        async for job in jobs.watch(tenant, job_id):
            if job is None:
                yield ": keep-alive\n\n"
            else:
                yield f"data: {Job.from_record(job).model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
