"""JobService: the one object the HTTP routes and tests talk to about jobs and glossaries."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from procrastinate import BaseConnector
from pydantic import ValidationError

from pipelines.errors import InvalidInput, NotFound, QuotaExceeded, StorageQuotaExceeded
from pipelines.platform.jobs.artifacts import ArtifactFiles
from pipelines.platform.jobs.cluster import ClusterDispatch
from pipelines.platform.jobs.context import JobServices
from pipelines.platform.jobs.crypto import ArtifactCipher
from pipelines.platform.jobs.job_type import JobTypes
from pipelines.platform.jobs.local import LocalDispatch
from pipelines.platform.jobs.policy import JobAction, JobEvent, OpenPolicy, TenantPolicy
from pipelines.platform.jobs.runner import Dispatch, JobRunner
from pipelines.platform.jobs.settings import JobSettings, decode_encryption_key
from pipelines.platform.jobs.store import GlossaryStore, JobStore
from pipelines.platform.jobs.types import ArtifactRecord, JobRecord, JobState
from pipelines.platform.storage.stores import stores_for
from pipelines.platform.storage.task_queue import task_queue_connector
from pipelines.settings import Settings

log = logging.getLogger(__name__)
JOB_SLOT_RETRY_S = 5  # Retry-After when a tenant has all the jobs at once it may have


def role_needs_postgresql(role: str) -> str:
    return (
        f"jobs.role '{role}' needs a PostgreSQL jobs.database, the task queue the nodes share; "
        "on the embedded SQLite database one process serves and runs the jobs (role all)"
    )


class Store(JobStore, GlossaryStore, Protocol):
    """A backend that keeps both jobs and glossaries."""


def validation_message(exc: ValidationError, prefix: str) -> tuple[str, str]:
    """(message, param) of the first error, in the words the HTTP layer uses."""
    first = exc.errors()[0]
    param = ".".join([prefix, *(str(p) for p in first["loc"])]) if prefix else ""
    param = param or ".".join(str(p) for p in first["loc"])
    return f"{first['msg']}: '{param}'", param


class JobService:
    def __init__(
        self,
        store: Store,
        files: ArtifactFiles,
        types: JobTypes,
        registry: Any,
        settings: Settings,
        job_settings: JobSettings | None = None,
        policy: TenantPolicy | None = None,
        task_queue: BaseConnector | None = None,
    ) -> None:
        """Jobs run in this process (LocalDispatch) unless a `task_queue` connector is given:
        then through procrastinate, on the nodes that run workers (ClusterDispatch)."""
        self.store = store
        self.files = files
        self.types = types
        self.settings = job_settings or settings.jobs
        self.policy = policy or OpenPolicy()
        self.services = JobServices(
            registry=registry,
            settings=settings,
            glossaries=store,
            jobs=self.settings,
            policy=self.policy,
        )
        self.runner = JobRunner(store, files, types, self.services, self.settings)
        self.dispatch: Dispatch = (
            LocalDispatch(self.runner)
            if task_queue is None
            else ClusterDispatch(self.runner, task_queue)
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        registry: Any,
        types: JobTypes,
        policy: TenantPolicy | None = None,
        store: Store | None = None,
    ) -> JobService:
        """The database of settings.jobs_database(), artifacts in <data_dir>/jobs (encrypted if a
        key is set), the job types the caller offers (pipelines.catalogue.job_types: the
        workflows'); on PostgreSQL, jobs go through its task queue. ValueError for a role
        other than `all` on SQLite."""
        job_settings = settings.jobs
        task_queue = task_queue_connector(settings.jobs_database())
        if task_queue is None and job_settings.role != "all":
            raise ValueError(role_needs_postgresql(job_settings.role))
        key = job_settings.encryption_key
        cipher = ArtifactCipher(decode_encryption_key(key.get_secret_value())) if key else None
        return cls(
            store or stores_for(settings.jobs_database()).jobs,
            ArtifactFiles(settings.data_dir / "jobs", cipher),
            types,
            registry,
            settings,
            job_settings,
            policy,
            task_queue,
        )

    async def start(self) -> None:
        await self.store.open()
        await self.dispatch.start()

    async def close(self) -> None:
        try:
            await self.dispatch.stop()
        finally:
            await self.store.close()

    # --- jobs -----------------------------------------------------------------------------
    async def submit(
        self, tenant: str, type_name: str, input: dict[str, Any], actor: str | None = None
    ) -> JobRecord:
        job_type = self.types.get(type_name)
        try:
            model = job_type.input_model.model_validate(input)
        except ValidationError as exc:
            message, param = validation_message(exc, "input")
            raise InvalidInput(message, param=param, code="invalid_input") from exc
        limits = await self.policy.job_limits(tenant)
        if limits.storage_bytes is not None:
            used = await self.store.storage_bytes(tenant)
            if used >= limits.storage_bytes:
                raise StorageQuotaExceeded(
                    f"Your artifacts take {used} bytes, your storage quota is "
                    f"{limits.storage_bytes}. Delete jobs you no longer need "
                    "(DELETE /v1/jobs/{id}) before starting new ones.",
                    code="storage_quota_exceeded",
                )
        if job_type.prepare is not None:
            model = await job_type.prepare(model, tenant, self.services)
        job = await self.store.create(
            tenant=tenant,
            type=job_type.name,
            resource=job_type.resource,
            input=model.model_dump(mode="json"),
            stage_count=len(job_type.stages),
            max_active=limits.concurrent_jobs,
        )
        if job is None:
            raise QuotaExceeded(
                f"You have {limits.concurrent_jobs} jobs queued or running, as many as you may "
                "at once. Retry when one has finished.",
                retry_after=JOB_SLOT_RETRY_S,
                code="concurrent_jobs_exceeded",
            )
        try:
            await self.dispatch.submitted(job)
        except BaseException:  # a job nothing would run must not hold a slot of the tenant
            await self.store.cancel(job.id)
            raise
        await self.emit("job.created", job, actor)
        return await self.get(tenant, job.id)

    async def get(self, tenant: str, job_id: str) -> JobRecord:
        job = await self.store.get(job_id, tenant)
        if job is None:  # another tenant's job does not exist, as far as this caller knows
            raise NotFound(f"No job with id '{job_id}'", param="job_id", code="job_not_found")
        return dataclasses.replace(job, queue_position=await self.store.queue_position(job))

    async def list(
        self, tenant: str, state: JobState | None = None, limit: int = 100
    ) -> list[JobRecord]:
        jobs = await self.store.list_jobs(tenant, state=state, limit=limit)
        return [
            dataclasses.replace(job, queue_position=await self.store.queue_position(job))
            for job in jobs
        ]

    async def queue_waiting(self) -> int | None:
        """Jobs waiting in the fleet's task queue (for /ready); None on an embedded database."""
        return await self.dispatch.waiting()

    async def cancel(
        self, tenant: str, job_id: str, actor: str | None = None
    ) -> tuple[JobRecord, bool]:
        """Cancel a queued or running job: it stays, cancelled, without artifacts. Delete a
        finished one (files and row): it is gone afterwards. The job as it was left, and whether
        it was deleted."""
        await self.get(tenant, job_id)
        cancelled = await self.store.cancel(job_id)
        await self.dispatch.cancel(job_id)
        if cancelled:
            await self.store.remove_artifacts(job_id)
            await self.files.remove(job_id)
            job = await self.get(tenant, job_id)
        else:  # it had finished (perhaps just now): its last state, then delete it as erase does
            job = dataclasses.replace(await self.get(tenant, job_id), artifacts=())
            await self.files.remove(job_id)
            await self.store.delete(job_id)
        self.runner.notify(job_id)
        await self.emit("job.deleted", job, actor)
        return job, not cancelled

    async def erase(self, tenant: str, finished_before: float | None = None) -> tuple[str, ...]:
        """Delete the tenant's jobs (rows, artifacts, files) at once, cancelling those not yet
        finished; with `finished_before`, only the jobs that finished before then."""
        erased = []
        for job_id in await self.store.job_ids(tenant, finished_before=finished_before):
            await self.store.cancel(job_id)
            await self.dispatch.cancel(job_id)
            await self.files.remove(job_id)
            if await self.store.delete(job_id):
                erased.append(job_id)
            self.runner.notify(job_id)
        return tuple(erased)

    async def emit(self, action: JobAction, job: JobRecord, actor: str | None = None) -> None:
        try:
            await self.policy.on_job_event(JobEvent(action, job, actor))
        except Exception:  # bookkeeping must never undo or fail the change itself
            log.exception("job %s: recording %s failed", job.id, action)

    async def artifact(self, tenant: str, job_id: str, name: str) -> tuple[ArtifactRecord, Path]:
        await self.get(tenant, job_id)
        record = await self.store.artifact(job_id, name)
        path = self.files.path(job_id, name) if record else None
        if record is None or path is None or not path.is_file():
            raise NotFound(
                f"Job '{job_id}' has no artifact '{name}'", param="name", code="artifact_not_found"
            )
        return record, path

    async def watch(
        self, tenant: str, job_id: str, heartbeat_s: float = 15.0, poll_s: float = 1.0
    ) -> AsyncIterator[JobRecord | None]:
        """Yield the job at each visible change until it finishes; None as a keep-alive."""
        await self.get(tenant, job_id)
        last: tuple[Any, ...] | None = None
        last_sent = time.monotonic()
        while True:
            changed = self.runner.change_event(job_id)
            job = await self.get(tenant, job_id)
            key = (job.state, job.stage, round(job.progress, 3), job.queue_position, job.artifacts)
            if key != last:
                last, last_sent = key, time.monotonic()
                yield job
            elif time.monotonic() - last_sent >= heartbeat_s:
                last_sent = time.monotonic()
                yield None
            if job.state.finished:
                return
            with contextlib.suppress(TimeoutError):
                # polling too: another process sharing the store does not notify this one
                await asyncio.wait_for(changed.wait(), poll_s)
