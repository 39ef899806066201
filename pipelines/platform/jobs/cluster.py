"""Jobs on PostgreSQL, run by any node: dispatched through procrastinate, a PostgreSQL task queue
(FOR UPDATE SKIP LOCKED claiming, LISTEN/NOTIFY, worker heartbeats, retries, aborts).

Our `jobs` row stays the job's truth (state, stage, checkpoint, artifacts); procrastinate only
carries "run job X" to a worker of a node that hosts X's resource (one queue per resource). Its
task has `lock` = `queueing_lock` = the job id: never queued twice, never run twice at once.

- A node killed mid-job stops sending heartbeats; a periodic task (one per tick in the whole
  fleet) retries the jobs of workers silent for `jobs.stalled_after_s`, and the retried task
  resumes the job from its last finished stage (JobRunner.interrupted: max_resumes holds).
- A node stopping in order aborts its running tasks (procrastinate's shutdown abort): each job
  is requeued without using up a resume, and the task is retried, on any node.
- A cancel on any node marks the row cancelled (JobService) and asks procrastinate to abort the
  task: the node running it is told by NOTIFY (polled every second as a fallback) and cancels
  the job's asyncio task, which stops the stage as the in-process runner's cancel does.
"""

from __future__ import annotations

import asyncio
import logging

from procrastinate import App, BaseConnector, RetryStrategy
from procrastinate.jobs import Status

from pipelines.platform.jobs.runner import JobRunner
from pipelines.platform.jobs.types import JobRecord, JobState

log = logging.getLogger(__name__)

RUN_TASK = "localshang.run_job"
STALLED_TASK = "localshang.retry_stalled_jobs"
MAINTENANCE_QUEUE = "localshang.maintenance"  # every worker node takes it
ABORT_POLL_S = 1.0  # NOTIFY delivers an abort at once; this poll is its fallback
FETCH_POLL_S = 2.0  # likewise for new tasks (and retried ones, which no NOTIFY announces)
RESTART_S = 2.0  # a worker that stopped on its own (database gone) is started again after this
STOP_WAIT_S = 10.0  # how long a stopping node waits for its workers to unregister
CANCEL_WAIT_S = 30.0  # how long a cancel waits for the running node to let go of the job


class ClusterDispatch:
    """Submits jobs as procrastinate tasks; on a worker node also runs procrastinate workers in
    this event loop: one per resource queue (its `jobs.concurrency` at once) and one for the
    stalled-job check."""

    def __init__(self, runner: JobRunner, connector: BaseConnector) -> None:
        self.runner = runner
        self.app = App(connector=connector)
        # a task that raised (the database went away mid-job) or was aborted by a shutdown is
        # run again; the job's own `max_resumes` bounds the crash resumes
        self.run_job = self.app.task(name=RUN_TASK, retry=RetryStrategy(wait=1))(self._run)
        stalled = self.app.task(
            name=STALLED_TASK, queue=MAINTENANCE_QUEUE, queueing_lock=STALLED_TASK
        )(self._retry_stalled)
        self.app.periodic(cron=f"* * * * * */{runner.settings.stalled_check_s}")(stalled)
        self._workers: list[asyncio.Task[None]] = []

    # --- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        await self.app.open_async()
        if self.runner.settings.role == "api":
            return
        for queue, concurrency in self.queues():
            self._workers.append(
                asyncio.create_task(self._work(queue, concurrency), name=f"jobs-{queue}")
            )

    async def stop(self) -> None:
        self.runner.stopping = True
        for worker in self._workers:
            worker.cancel()
        # bounded: a worker unregistering from a database that is down would wait on its pool
        if self._workers:
            await asyncio.wait(self._workers, timeout=STOP_WAIT_S)
        self._workers.clear()
        try:
            async with asyncio.timeout(STOP_WAIT_S):
                await self.app.close_async()
        except TimeoutError:
            log.warning("the task queue's connections did not close within %.0f s", STOP_WAIT_S)

    def queues(self) -> list[tuple[str, int]]:
        """(queue, jobs at once) of this node's workers: its resources, then maintenance."""
        settings = self.runner.settings
        resources = settings.queues or sorted(
            self.runner.types.resources() | set(settings.concurrency)
        )
        return [(r, settings.workers_for(r)) for r in resources] + [(MAINTENANCE_QUEUE, 1)]

    async def _work(self, queue: str, concurrency: int) -> None:
        settings = self.runner.settings
        while not self.runner.stopping:
            try:
                await self.app.run_worker_async(
                    queues=[queue],
                    concurrency=concurrency,
                    name=f"jobs-{queue}",
                    install_signal_handlers=False,  # the server's own handle the signals
                    delete_jobs="always",  # a finished task is no record: the job row is
                    update_heartbeat_interval=settings.heartbeat_s,
                    stalled_worker_timeout=settings.stalled_after_s,
                    shutdown_graceful_timeout=0,  # stop at once; the jobs resume elsewhere
                    abort_job_polling_interval=ABORT_POLL_S,
                    fetch_job_polling_interval=FETCH_POLL_S,
                )
            except Exception:
                log.exception("jobs worker of queue %s failed", queue)
            if not self.runner.stopping:
                log.warning("jobs worker of queue %s stopped; starting it again", queue)
                await asyncio.sleep(RESTART_S)

    # --- queue ----------------------------------------------------------------------------
    async def submitted(self, job: JobRecord) -> None:
        deferrer = self.run_job.configure(queue=job.resource, lock=job.id, queueing_lock=job.id)
        await deferrer.defer_async(job_id=job.id)

    async def waiting(self) -> int | None:
        queues = await self.app.job_manager.list_queues_async(task=RUN_TASK)
        return sum(int(queue["todo"]) for queue in queues)

    async def cancel(self, job_id: str) -> None:
        """Abort the job's task, then wait (bounded) until no node runs it any more."""
        manager = self.app.job_manager
        for task in await manager.list_jobs_async(task=RUN_TASK, lock=job_id):
            if task.id is not None and task.status in (Status.TODO.value, Status.DOING.value):
                await manager.cancel_job_by_id_async(task.id, abort=True)
        try:
            async with asyncio.timeout(CANCEL_WAIT_S):
                while await manager.list_jobs_async(
                    task=RUN_TASK, lock=job_id, status=Status.DOING.value
                ):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            log.warning("job %s: its node did not stop it within %.0f s", job_id, CANCEL_WAIT_S)

    # --- tasks ----------------------------------------------------------------------------
    async def _run(self, job_id: str) -> None:
        """procrastinate's task: run (or resume) job `job_id` through the shared stage loop."""
        store = self.runner.store
        job = await store.get(job_id)
        if job is None or job.state.finished:
            return  # cancelled or deleted before it started
        # the lock lets one run at a time: a job found running is one whose node died
        if job.state == JobState.RUNNING and not await self.runner.interrupted(
            job, "the node running it stopped"
        ):
            return
        claimed = await store.claim(job_id)
        if claimed is None:
            return  # cancelled meanwhile
        try:
            await self.runner.run(claimed)
        except asyncio.CancelledError:
            # only while this node stops: the job waits for the task's retry, on any node
            left = await store.get(job_id)
            if left is not None and left.state == JobState.RUNNING:
                await self.runner.interrupted(left, "its node shut down", graceful=True)
            raise

    async def _retry_stalled(self, timestamp: int) -> None:
        """The periodic check: tasks of workers without a heartbeat for `stalled_after_s` go
        back to their queue (procrastinate's own recovery recipe)."""
        manager = self.app.job_manager
        stalled_after = self.runner.settings.stalled_after_s
        for task in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            log.warning("task %s of a silent worker: queued again", task.call_string)
            try:
                await manager.retry_job(task)
            except Exception:  # retried by another node's check first
                log.info("task %s was retried already", task.call_string, exc_info=True)
