"""Running one job stage by stage (the same code wherever the job was dispatched from), what
becomes of a job a crash or shutdown interrupted, and the change notices of server-sent events."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from typing import Any, Protocol

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


class Dispatch(Protocol):
    """How queued jobs reach JobRunner.run: workers of this process on an embedded database
    (jobs.local.LocalDispatch), or any node's workers through the PostgreSQL task queue
    (jobs.cluster.ClusterDispatch)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop this node's workers; the jobs they cut short resume later, as after a crash,
        without it counting against their resumes."""

    async def submitted(self, job: JobRecord) -> None:
        """`job` was just stored as queued: have it run."""

    async def cancel(self, job_id: str) -> None:
        """Stop the job (already cancelled in the store) wherever it runs, and return once it
        let go of its files (or after a bounded wait)."""

    async def waiting(self) -> int | None:
        """Jobs waiting in the fleet's shared queue (raises if it does not answer); None when
        the queue is this process's own."""


class JobRunner:
    """Runs a claimed job's stages from its first unfinished one.

    Every stage completion is committed (stage index + checkpoint) before the next begins, so
    after a crash a job restarts at its first unfinished stage, or is failed with the reason.
    """

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
        # set by the dispatch when it stops: a job cancelled then is resumed, not dropped
        self.stopping = False
        self._changes: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )

    async def interrupted(self, job: JobRecord, why: str, graceful: bool = False) -> bool:
        """Requeue (resumable, resumes left: True) or fail a job left `running` by a run that
        ended without finishing it; files it was writing are swept, its artifacts kept.

        A crash counts against the job's `max_resumes` (a job that crashes the server each
        time must not do so forever); an orderly shutdown does not.
        """
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
            return True
        log.warning("job %s failed: %s", job.id, reason)
        await self.store.fail_interrupted(job.id, {"message": reason, "code": "interrupted"})
        await self.files.remove_work(job.id)
        self.notify(job.id)
        return False

    # --- change notification (server-sent events) -------------------------------------------
    def notify(self, job_id: str) -> None:
        event = self._changes.pop(job_id, None)
        if event is not None:
            event.set()

    def change_event(self, job_id: str) -> asyncio.Event:
        """An event set at the next change of the job in this process; take it *before*
        reading the job (other processes' changes are seen by polling)."""
        event = self._changes.get(job_id)
        if event is None:
            event = asyncio.Event()
            self._changes[job_id] = event
        return event

    # --- work -----------------------------------------------------------------------------
    async def run(self, job: JobRecord) -> None:
        """Run a claimed job to its end; raises CancelledError only while `stopping` (the job
        is then left running, for its dispatch to requeue)."""
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
            if self.stopping:
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
