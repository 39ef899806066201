"""Jobs on the embedded (SQLite) database: worker pools of this one process poll the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipelines.platform.jobs.runner import JobRunner
from pipelines.platform.jobs.types import JobRecord

log = logging.getLogger(__name__)


class LocalDispatch:
    """`concurrency[resource]` workers per resource take the oldest queued job of it, in turn.

    The database is this process's own: at start every job left `running` is one a crash or
    shutdown of this process interrupted, and is resumed or failed.
    """

    poll_s = 2.0  # also picks up jobs queued by another process sharing the store (the CLI)

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner
        self._wakeups: dict[str, asyncio.Event] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        await self.recover("the server stopped")
        settings = self.runner.settings
        resources = self.runner.types.resources() | set(settings.concurrency)
        for resource in sorted(resources):
            self._wakeups[resource] = asyncio.Event()
            for n in range(settings.workers_for(resource)):
                self._workers.append(
                    asyncio.create_task(self._worker(resource), name=f"jobs-{resource}-{n}")
                )

    async def stop(self) -> None:
        self.runner.stopping = True
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
        """Requeue or fail every job left `running` that this process does not run."""
        touched = []
        for job in await self.runner.store.running():
            if job.id in self._running:
                continue
            touched.append(job.id)
            if await self.runner.interrupted(job, why, graceful):
                self._wake(job.resource)
        return touched

    async def submitted(self, job: JobRecord) -> None:
        self._wake(job.resource)

    async def waiting(self) -> int | None:
        return None  # the queue is the jobs table, which /ready checks as the database

    async def cancel(self, job_id: str) -> None:
        """Stop the job's task if it runs here, and wait for it to let go of its files."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=30)

    def _wake(self, resource: str) -> None:
        event = self._wakeups.get(resource)
        if event is not None:
            event.set()

    async def _worker(self, resource: str) -> None:
        wakeup = self._wakeups[resource]
        while not self.runner.stopping:
            wakeup.clear()
            try:
                job = await self.runner.store.claim_next(resource)
            except Exception:
                log.exception("job store: cannot claim the next %s job", resource)
                job = None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self.poll_s)
                continue
            task = asyncio.create_task(self.runner.run(job), name=f"job-{job.id}")
            self._running[job.id] = task
            try:
                await asyncio.wait([task])  # the worker's own cancellation leaves the task be
            finally:
                if task.done():
                    self._running.pop(job.id, None)
