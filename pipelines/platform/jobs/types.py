"""Plain job data: a job's record and state, and the records of the files it published."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """queued -> running -> succeeded | failed | cancelled; running -> queued only when resumed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ArtifactRecord:
    """A complete file a job produced; a record exists only once the file is fully in place."""

    job_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: float


@dataclass(frozen=True)
class JobRecord:
    id: str
    tenant: str
    type: str
    resource: str
    state: JobState
    input: dict[str, Any]
    stage: str | None
    stage_index: int  # stages completed so far; a resumed job restarts at this stage
    stage_count: int
    progress: float
    checkpoint: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    updated_at: float
    artifacts: tuple[ArtifactRecord, ...] = ()
    queue_position: int | None = None  # filled in by JobService.get; 1 = next to start
