"""Schemas of the jobs API (/v1/jobs): a localshang extension, shaped like OpenAI's job objects."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.platform.jobs.types import ArtifactRecord, JobRecord, JobState


class JobCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description='a job type, e.g. "translation" or "copywriting"')
    input: dict[str, Any] = Field(default_factory=dict, description="the job type's input")


class JobError(BaseModel):
    message: str
    code: str | None = None
    param: str | None = None
    details: list[dict[str, Any]] = Field(default_factory=list)


class Artifact(BaseModel):
    object: Literal["job.artifact"] = "job.artifact"
    name: str
    content_type: str
    bytes: int
    sha256: str
    created_at: int
    url: str

    @classmethod
    def from_record(cls, record: ArtifactRecord) -> Artifact:
        return cls(
            name=record.name,
            content_type=record.content_type,
            bytes=record.size,
            sha256=record.sha256,
            created_at=int(record.created_at),
            url=f"/v1/jobs/{record.job_id}/artifacts/{record.name}",
        )


class JobTimings(BaseModel):
    queued_s: float = Field(description="from submission until first start (or now)")
    running_s: float | None = Field(None, description="from first start until the end (or now)")


class Job(BaseModel):
    id: str
    object: Literal["job"] = "job"
    type: str
    state: JobState
    stage: str | None
    stages_completed: int
    stage_count: int
    progress: float = Field(ge=0.0, le=1.0)
    queue_position: int | None = Field(None, description="1 = next to start; null unless queued")
    attempts: int = Field(description="times a worker started it (more than 1 after a resume)")
    created_at: int
    started_at: int | None
    finished_at: int | None
    timings: JobTimings
    error: JobError | None
    result: dict[str, Any] | None
    artifacts: list[Artifact]
    input: dict[str, Any]
    deleted: bool = Field(
        False, description="true in the answer to DELETE of a finished job: it is gone now"
    )

    @classmethod
    def from_record(cls, job: JobRecord, deleted: bool = False) -> Job:
        now = time.time()
        started = job.started_at
        return cls(
            id=job.id,
            type=job.type,
            state=job.state,
            stage=job.stage,
            stages_completed=job.stage_index,
            stage_count=job.stage_count,
            progress=round(job.progress, 4),
            queue_position=job.queue_position,
            attempts=job.attempts,
            created_at=int(job.created_at),
            started_at=int(started) if started is not None else None,
            finished_at=int(job.finished_at) if job.finished_at is not None else None,
            timings=JobTimings(
                queued_s=round((started or job.finished_at or now) - job.created_at, 3),
                running_s=None if started is None else round((job.finished_at or now) - started, 3),
            ),
            error=JobError.model_validate(job.error) if job.error else None,
            result=job.result,
            artifacts=[Artifact.from_record(a) for a in job.artifacts],
            input=job.input,
            deleted=deleted,
        )


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Job]
