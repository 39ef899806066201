"""/v1/jobs: submit, inspect, list, cancel jobs; download artifacts; follow progress as SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from pipelines.platform.jobs.types import JobState
from server import sse
from server.deps import JobsDep, TenantDep
from server.downloads import artifact_response
from server.schemas.jobs import Job, JobCreateRequest, JobList
from server.tenancy import CallerDep

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.post("/jobs")
async def create_job(body: JobCreateRequest, jobs: JobsDep, caller: CallerDep) -> Job:
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
    return Job.from_record(await jobs.get(tenant, job_id))


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, jobs: JobsDep, caller: CallerDep) -> Job:
    """A queued or running job is cancelled: it stays, `cancelled`, its artifacts deleted. A
    finished job is deleted with its artifacts (`deleted: true`): it is a 404 afterwards."""
    job, deleted = await jobs.cancel(caller.name, job_id, actor=caller.actor)
    return Job.from_record(job, deleted=deleted)


# two routes, not api_route(methods=[GET, HEAD]): that gives both one OpenAPI operationId
@router.get("/jobs/{job_id}/artifacts/{name}")
@router.head("/jobs/{job_id}/artifacts/{name}")
async def download_artifact(
    job_id: str, name: str, request: Request, jobs: JobsDep, tenant: TenantDep
) -> Response:
    """The file with its content type; Range requests (video seeking, resumed downloads) work."""
    record, path = await jobs.artifact(tenant, job_id, name)
    return artifact_response(request, record, path, jobs.files)


@router.get("/jobs/{job_id}/events", response_model=None)
async def job_events(job_id: str, jobs: JobsDep, tenant: TenantDep) -> StreamingResponse:
    """Server-sent events: the job object at each change, then `data: [DONE]` once it ends."""
    await jobs.get(tenant, job_id)  # 404 now, not inside an already started stream

    async def stream() -> AsyncIterator[str]:
        async for job in jobs.watch(tenant, job_id):
            if job is None:
                yield sse.KEEP_ALIVE
            else:
                yield sse.event(Job.from_record(job))
        yield sse.DONE

    return sse.event_stream(stream())
