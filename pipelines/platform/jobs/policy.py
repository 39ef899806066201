"""What the job system asks of the tenancy layer: each tenant's limits, and word of what happened.

`pipelines.platform.accounts` implements it (quotas, audit log, usage); without it jobs are unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pipelines.platform.jobs.types import JobRecord

JobAction = Literal["job.created", "job.deleted", "job.finished"]


@dataclass(frozen=True)
class JobLimits:
    concurrent_jobs: int | None = None  # queued + running at once
    storage_bytes: int | None = None  # artifacts kept, all jobs together


@dataclass(frozen=True)
class JobEvent:
    action: JobAction
    job: JobRecord  # as it is after the change (a finished job carries its state and result)
    actor: str | None = None  # who asked (e.g. "key:abc123"); None: the tenant, or the system
    # job.finished: what the run used that the runner saw (LLM tokens of this attempt)
    usage: Mapping[str, float] = field(default_factory=dict)


class TenantPolicy(Protocol):
    async def job_limits(self, tenant: str) -> JobLimits: ...

    async def on_job_event(self, event: JobEvent) -> None:
        """Told after the change is committed; a failure here is logged, never undoes it."""


class OpenPolicy:
    """No limits, nobody listening: a job system used on its own (CLI, tests)."""

    async def job_limits(self, tenant: str) -> JobLimits:
        return JobLimits()

    async def on_job_event(self, event: JobEvent) -> None:
        return None
