"""What a stage function sees of its job: input, checkpoint, progress, artifacts, services."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipelines.errors import StorageQuotaExceeded
from pipelines.platform.jobs.artifacts import ArtifactFiles, check_artifact_name, guess_content_type
from pipelines.platform.jobs.policy import OpenPolicy, TenantPolicy
from pipelines.platform.jobs.settings import JobSettings
from pipelines.platform.jobs.store import GlossaryStore, JobStore
from pipelines.platform.jobs.types import ArtifactRecord, JobRecord
from pipelines.settings import Settings


@dataclass(frozen=True)
class JobServices:
    """The shared things a pipeline may use while running a job."""

    registry: Any  # models.registry.ModelRegistry (kept loose so pipelines can be tested alone)
    settings: Settings
    glossaries: GlossaryStore
    jobs: JobSettings
    policy: TenantPolicy = field(default_factory=OpenPolicy)


class JobGone(Exception):
    """The job stopped being ours while a stage ran (cancelled by its owner)."""


class JobContext:
    """Stage functions read `input`, keep resumable state in `checkpoint` (JSON-able), call
    `save()` after each unit of work they must not redo, and publish files as artifacts."""

    def __init__(
        self,
        job: JobRecord,
        progress: Callable[[int, float], float],
        input: BaseModel,
        services: JobServices,
        store: JobStore,
        files: ArtifactFiles,
        notify: Callable[[str], None],
    ) -> None:
        self.job_id = job.id
        self.tenant = job.tenant
        self.input = input
        self.services = services
        self.checkpoint: dict[str, Any] = dict(job.checkpoint)
        self.result: dict[str, Any] | None = None
        self.stage_index = job.stage_index
        self._overall = progress  # (stages done, fraction of the next) -> the job's progress
        self._store = store
        self._files = files
        self._notify = notify
        self._last_progress = 0.0

    @property
    def work_dir(self) -> Path:
        """Scratch folder for intermediate files; removed when the job ends."""
        return self._files.work_dir(self.job_id)

    async def progress(self, fraction: float) -> None:
        """Report how far the current stage is (0..1); writes are throttled to a few a second."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < 0.2:
            return
        self._last_progress = now
        await self._store.set_progress(self.job_id, self._overall(self.stage_index, fraction))
        self._notify(self.job_id)

    async def save(self, fraction: float | None = None) -> None:
        """Persist `checkpoint` now: a resumed job starts its stage again with this state."""
        progress = self._overall(self.stage_index, fraction or 0.0)
        await self._store.save_checkpoint(self.job_id, self.checkpoint, progress)
        self._notify(self.job_id)

    async def write_artifact(
        self, name: str, data: bytes | str, content_type: str | None = None
    ) -> ArtifactRecord:
        payload = data.encode() if isinstance(data, str) else data
        size, sha256 = await self._files.write(self.job_id, check_artifact_name(name), payload)
        return await self._record(name, size, sha256, content_type)

    async def adopt_artifact(
        self, name: str, path: Path, content_type: str | None = None
    ) -> ArtifactRecord:
        """Publish a finished file (e.g. ffmpeg's output in work_dir) as an artifact."""
        size, sha256 = await self._files.adopt(self.job_id, check_artifact_name(name), path)
        return await self._record(name, size, sha256, content_type)

    async def tenant_job(self, job_id: str) -> JobRecord | None:
        """Another job of this job's tenant (e.g. the one it revises); None if there is none."""
        return await self._store.get(job_id, self.tenant)

    async def export_artifact(self, job: JobRecord, name: str, target: Path) -> None:
        """A plaintext copy of artifact `name` of `job` (of this tenant) at `target`."""
        assert job.tenant == self.tenant
        await self._files.export(job.id, check_artifact_name(name), target)

    async def carry_artifact(self, job: JobRecord, name: str) -> ArtifactRecord:
        """Publish artifact `name` of `job` (of this tenant) unchanged as this job's own; it
        counts in the tenant's storage again, as any artifact does."""
        assert job.tenant == self.tenant
        record = next(a for a in job.artifacts if a.name == name)
        await self._files.link(job.id, check_artifact_name(name), self.job_id)
        return await self._record(name, record.size, record.sha256, record.content_type)

    async def _record(
        self, name: str, size: int, sha256: str, content_type: str | None
    ) -> ArtifactRecord:
        await self._check_storage(name, size)
        record = ArtifactRecord(
            job_id=self.job_id,
            name=name,
            content_type=content_type or guess_content_type(name),
            size=size,
            sha256=sha256,
            created_at=time.time(),
        )
        if not await self._store.add_artifact(record):
            self._files.path(self.job_id, name).unlink(missing_ok=True)
            raise JobGone(f"job {self.job_id} is no longer running")
        self._notify(self.job_id)
        return record

    async def _check_storage(self, name: str, size: int) -> None:
        """Refuse (and delete) an artifact that takes the tenant past its storage quota."""
        quota = (await self.services.policy.job_limits(self.tenant)).storage_bytes
        if quota is None:
            return
        used = await self._store.storage_bytes(self.tenant)
        if used + size > quota:
            self._files.path(self.job_id, name).unlink(missing_ok=True)
            raise StorageQuotaExceeded(
                f"Artifact '{name}' ({size} bytes) would take your storage to {used + size} "
                f"bytes, over your quota of {quota}. Delete jobs you no longer need.",
                code="storage_quota_exceeded",
            )
