"""POST /v1/video/dubbings: upload a clip and start a `video_dubbing` job (follow it at /v1/jobs);
POST /v1/video/dubbings/{job_id}/redub: a new version of a finished one from edited lines."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from pipelines.video.redub import redub
from server.deps import JobsDep, SettingsDep, TenantDep
from server.dubbing_uploads import start_dubbing
from server.schemas.jobs import Job
from server.schemas.video import RedubRequest, dubbing_fields, dubbing_request_body

log = logging.getLogger(__name__)


router = APIRouter(prefix="/v1/video", tags=["video"])


@router.post("/dubbings", openapi_extra={"requestBody": dubbing_request_body()})
async def create_dubbing(
    request: Request, jobs: JobsDep, settings: SettingsDep, tenant: TenantDep
) -> Job:
    """multipart/form-data: `file` (the clip) and the job's options as fields; answers the job.

    The clip is probed before the job exists (server.dubbing_uploads): what is not a decodable
    video within the limits gets a 400 and leaves nothing on disk.
    """
    upload, fields = dubbing_fields(await request.form())
    job = await start_dubbing(jobs, settings, tenant, upload, fields)
    return Job.from_record(job)


@router.post("/dubbings/{job_id}/redub")
async def redub_dubbing(job_id: str, body: RedubRequest, jobs: JobsDep, tenant: TenantDep) -> Job:
    """A new dubbing job: the languages in `lines` voiced again from those lines, the others
    carried over from job `job_id`, which stays as it is until deleted. Its clip, sound and
    probe are the finished job's: nothing is transcribed and no script is written."""
    return Job.from_record(await redub(jobs, tenant, job_id, body.cues()))
