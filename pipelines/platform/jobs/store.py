"""The storage interface of jobs, artifacts records and glossaries (pipelines/platform/storage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pipelines.platform.jobs.types import ArtifactRecord, JobRecord, JobState


@dataclass(frozen=True)
class GlossaryRecord:
    tenant: str
    name: str
    entries: list[dict[str, Any]]
    updated_at: float


class JobStore(Protocol):
    """Every state change is conditional on the state it leaves, so racing writers cannot undo
    a cancel or a finish: the loser's call returns False (or None) and changes nothing."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create(
        self,
        *,
        tenant: str,
        type: str,
        resource: str,
        input: dict[str, Any],
        stage_count: int,
        max_active: int | None = None,
    ) -> JobRecord | None:
        """The new queued job; None (nothing stored) if the tenant already has `max_active`
        jobs queued or running."""

    async def get(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """The job, or None when it does not exist or belongs to another tenant."""

    async def list_jobs(
        self, tenant: str, *, state: JobState | None = None, limit: int = 100
    ) -> list[JobRecord]:
        """Newest first."""

    async def queue_position(self, job: JobRecord) -> int | None:
        """1 for the next job of its resource to start; None unless queued."""

    async def claim_next(self, resource: str) -> JobRecord | None:
        """Move the oldest queued job of `resource` to running and return it."""

    async def claim(self, job_id: str) -> JobRecord | None:
        """Move this job from queued to running and return it; None if it was not queued."""

    async def start_stage(
        self, job_id: str, stage: str, stage_index: int, progress: float
    ) -> None: ...

    async def set_progress(self, job_id: str, progress: float) -> None: ...

    async def save_checkpoint(
        self,
        job_id: str,
        checkpoint: dict[str, Any],
        progress: float,
        completed_stages: int | None = None,
    ) -> None:
        """Persist the resumable state; with `completed_stages`, also that many stages are done."""

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """running -> succeeded/failed; False if the job was not running (e.g. cancelled)."""

    async def cancel(self, job_id: str) -> bool:
        """queued/running -> cancelled; False if it had already finished."""

    async def running(self) -> list[JobRecord]:
        """Jobs marked running: at start-up these are the ones a crash interrupted."""

    async def requeue(self, job_id: str, reason: str, count_attempt: bool = True) -> bool:
        """running -> queued, keeping completed stages and checkpoint (resume after a crash);
        without `count_attempt` the interrupted start is not counted in `attempts`."""

    async def fail_interrupted(self, job_id: str, error: dict[str, Any]) -> bool:
        """running -> failed for a job that cannot resume."""

    async def add_artifact(self, artifact: ArtifactRecord) -> bool:
        """Record a complete artifact; refused (False) unless its job is running."""

    async def artifact(self, job_id: str, name: str) -> ArtifactRecord | None: ...

    async def remove_artifacts(self, job_id: str) -> None: ...

    async def delete(self, job_id: str) -> bool:
        """Remove a finished job's row and its artifact records; False if it is not finished."""

    async def storage_bytes(self, tenant: str) -> int:
        """Bytes of all the tenant's artifacts."""

    async def tenants(self) -> list[str]:
        """Every tenant that has jobs."""

    async def job_ids(self, tenant: str, finished_before: float | None = None) -> list[str]:
        """The tenant's jobs, oldest first; with `finished_before`, only those finished earlier."""

    async def compact(self) -> None:
        """Make what was deleted unrecoverable from the database's files (after a purge)."""


class GlossaryStore(Protocol):
    async def put_glossary(
        self, tenant: str, name: str, entries: list[dict[str, Any]]
    ) -> GlossaryRecord: ...

    async def get_glossary(self, tenant: str, name: str) -> GlossaryRecord | None: ...

    async def list_glossaries(self, tenant: str) -> list[GlossaryRecord]: ...

    async def delete_glossary(self, tenant: str, name: str) -> bool: ...

    async def delete_glossaries(self, tenant: str) -> int: ...
