"""Worker pools that run queued jobs stage by stage, and the crash recovery of interrupted jobs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import weakref
from typing import Any

from pydantic import ValidationError

from models.registry import ModelLoadError
from pipelines.errors import PipelineError
from pipelines.llm import current_tally, tallying_tokens
from pipelines.platform.jobs.artifacts import ArtifactFiles
from pipelines.platform.jobs.context import JobContext, JobGone, JobServices
from pipelines.platform.jobs.job_type import JobTypes
from pipelines.platform.jobs.policy import JobEvent
from pipelines.platform.jobs.settings import JobSettings
from pipelines.platform.jobs.store import JobStore
from pipelines.platform.jobs.types import JobRecord, JobState

log = logging.getLogger(__name__)


class JobRunner:
    """`concurrency[resource]` workers per resource take the oldest queued job of it, in turn.

    Every stage completion is committed (stage index + checkpoint) before the next begins, so
    after a crash a job restarts at its first unfinished stage, or is failed with the reason.
    """

    poll_s = 2.0  # also picks up jobs queued by another process sharing the store

    def __init__(
        self,
        store: JobStore,
        files: ArtifactFiles,
        types: JobTypes,
        services: JobServices,
        settings: JobSettings,
    ) -> None:
        self.store = store
        self.files = files
        self.types = types
        self.services = services
        self.settings = settings
        self._wakeups: dict[str, asyncio.Event] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._changes: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        self._stopping = False

    # --- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.recover("the server stopped")
        resources = self.types.resources() | set(self.settings.concurrency)
        for resource in sorted(resources):
            self._wakeups[resource] = asyncio.Event()
            for n in range(self.settings.workers_for(resource)):
                self._workers.append(
                    asyncio.create_task(self._worker(resource), name=f"jobs-{resource}-{n}")
                )

    async def stop(self) -> None:
        """Stop the workers; jobs cut short are handled as after a crash (resumed next start)."""
        self._stopping = True
        for worker in self._workers:
            worker.cancel()
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*self._workers, *running, return_exceptions=True)
        self._workers.clear()
        self._running.clear()
        await self.recover("the server shut down", graceful=True)

    async def recover(self, why: str, graceful: bool = False) -> list[str]:
        """Requeue (resumable, retries left) or fail every job left in `running`.

        A crash counts against the job's `max_resumes` (a job that crashes the server each
        time must not do so forever); an orderly shutdown does not.
        """
        touched = []
        for job in await self.store.running():
            if job.id in self._running:
                continue
            touched.append(job.id)
            await self.files.sweep(job.id, keep={a.name for a in job.artifacts})
            where = f"stage '{job.stage}' ({job.stage_index + 1} of {job.stage_count})"
            job_type = self.types.get(job.type) if job.type in self.types else None
            if job_type is None:
                reason = f"{why} during {where}, and its job type '{job.type}' is not offered"
            elif not job_type.resumable:
                reason = f"{why} during {where}; '{job.type}' jobs cannot be resumed"
            elif job.attempts > self.settings.max_resumes and not graceful:
                reason = f"{why} during {where}, {job.attempts} times; not resumed again"
            else:
                await self.store.requeue(
                    job.id, f"resumed after {why} during {where}", count_attempt=not graceful
                )
                log.warning("job %s: %s during %s; resuming it", job.id, why, where)
                self._wake(job.resource)
                continue
            log.warning("job %s failed: %s", job.id, reason)
            await self.store.fail_interrupted(job.id, {"message": reason, "code": "interrupted"})
            await self.files.remove_work(job.id)
            self.notify(job.id)
        return touched

    # --- queue ----------------------------------------------------------------------------
    def _wake(self, resource: str) -> None:
        event = self._wakeups.get(resource)
        if event is not None:
            event.set()

    def submitted(self, job: JobRecord) -> None:
        self._wake(job.resource)

    async def cancel(self, job_id: str) -> None:
        """Stop the job's task if it runs here, and wait for it to let go of its files."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=30)

    # --- change notification (server-sent events) -------------------------------------------
    def notify(self, job_id: str) -> None:
        event = self._changes.pop(job_id, None)
        if event is not None:
            event.set()

    def change_event(self, job_id: str) -> asyncio.Event:
        """An event set at the next change of the job; take it *before* reading the job."""
        event = self._changes.get(job_id)
        if event is None:
            event = asyncio.Event()
            self._changes[job_id] = event
        return event

    # --- work -----------------------------------------------------------------------------
    async def _worker(self, resource: str) -> None:
        wakeup = self._wakeups[resource]
        while not self._stopping:
            wakeup.clear()
            try:
                job = await self.store.claim_next(resource)
            except Exception:
                log.exception("job store: cannot claim the next %s job", resource)
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self.poll_s)
                continue
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._running[job.id] = task
            try:
                await asyncio.wait([task])  # the worker's own cancellation leaves the task be
            finally:
                if task.done():
                    self._running.pop(job.id, None)

    async def _execute(self, job: JobRecord) -> None:
        with tallying_tokens():  # read by _finish, for the tenant's usage
            await self._run_stages(job)

    async def _run_stages(self, job: JobRecord) -> None:
        stage_name = job.stage
        context: JobContext | None = None
        self.notify(job.id)
        try:
            job_type = self.types.get(job.type)
            model = job_type.input_model.model_validate(job.input)
            context = JobContext(
                job, job_type.progress, model, self.services, self.store, self.files, self.notify
            )
            for index in range(job.stage_index, len(job_type.stages)):
                stage = job_type.stages[index]
                stage_name, context.stage_index = stage.name, index
                await self.store.start_stage(job.id, stage.name, index, job_type.progress(index))
                self.notify(job.id)
                await stage.run(context)
                await self.store.save_checkpoint(
                    job.id, context.checkpoint, job_type.progress(index + 1), index + 1
                )
                self.notify(job.id)
            await self._finish(job, JobState.SUCCEEDED, result=context.result)
        except asyncio.CancelledError:
            if self._stopping:
                raise  # shutting down: recovery decides on resume, as after a crash
            await self.files.remove_work(job.id)  # cancelled by its owner; the row says so
        except JobGone:
            await self.files.remove_work(job.id)
        except PipelineError as exc:
            # a result the stages had made is kept: it says what fell short (e.g. a QA verdict)
            result = context.result if context is not None else None
            await self._finish(job, JobState.FAILED, result=result, error=exc.as_dict())
        except ModelLoadError as exc:
            error = {"message": str(exc), "code": "model_unavailable"}
            await self._finish(job, JobState.FAILED, error=error)
        except ValidationError as exc:
            error = {"message": f"invalid job input: {exc}", "code": "invalid_input"}
            await self._finish(job, JobState.FAILED, error=error)
        except Exception as exc:
            log.exception("job %s failed in stage %s", job.id, stage_name)
            message = f"internal error in stage '{stage_name}': {type(exc).__name__}: {exc}"
            await self._finish(
                job, JobState.FAILED, error={"message": message, "code": "internal_error"}
            )
        finally:
            self.notify(job.id)

    async def _finish(
        self,
        job: JobRecord,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        finished = await self.store.finish(job.id, state, result=result, error=error)
        await self.files.remove_work(job.id)
        if finished:  # told to the tenancy layer (usage); its failure is not the job's
            job = dataclasses.replace(job, state=state, result=result, error=error)
            tally = current_tally()
            usage = {} if tally is None else dataclasses.asdict(tally)
            try:
                await self.services.policy.on_job_event(JobEvent("job.finished", job, usage=usage))
            except Exception:
                log.exception("job %s: recording its end failed", job.id)
