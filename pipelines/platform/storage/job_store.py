"""JobStore and GlossaryStore on SQLAlchemy Core: the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, case, delete, func, select, update

from pipelines.platform.jobs.store import GlossaryRecord
from pipelines.platform.jobs.types import ArtifactRecord, JobRecord, JobState
from pipelines.platform.storage.database import DatabaseStore
from pipelines.platform.storage.schema import artifacts, glossaries, jobs
from pipelines.platform.storage.upsert import upsert

ACTIVE = (JobState.QUEUED, JobState.RUNNING)
FINISHED = tuple(state for state in JobState if state.finished)


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


class SQLJobStore(DatabaseStore):
    """Jobs, their artifact records and glossaries; every call is one transaction."""

    # --- jobs -----------------------------------------------------------------------------
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
        job_id, now = new_job_id(), time.time()

        def insert(db: Connection) -> JobRecord | None:
            if max_active is not None:  # counted in the insert's transaction: no race past it
                if db.dialect.name == "postgresql":
                    # READ COMMITTED would let two creates count the same rows and both insert:
                    # one create at a time per tenant, the lock held until the transaction ends
                    # (SQLite's BEGIN IMMEDIATE serializes every writer already)
                    db.execute(select(func.pg_advisory_xact_lock(func.hashtext(tenant))))
                active = db.scalar(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.tenant == tenant, jobs.c.state.in_(ACTIVE))
                )
                if (active or 0) >= max_active:
                    return None
            db.execute(
                jobs.insert().values(
                    id=job_id,
                    tenant=tenant,
                    type=type,
                    resource=resource,
                    state=JobState.QUEUED,
                    input=_dump(input),
                    stage_count=stage_count,
                    created_at=now,
                    updated_at=now,
                )
            )
            return _get(db, job_id, None)

        return await self._run(insert)

    async def get(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        return await self._run(lambda db: _get(db, job_id, tenant))

    async def list_jobs(
        self, tenant: str, *, state: JobState | None = None, limit: int = 100
    ) -> list[JobRecord]:
        query = select(jobs).where(jobs.c.tenant == tenant)
        if state is not None:
            query = query.where(jobs.c.state == state)
        query = query.order_by(jobs.c.seq.desc()).limit(limit)
        return await self._run(lambda db: _with_artifacts(db, db.execute(query).all()))

    async def queue_position(self, job: JobRecord) -> int | None:
        if job.state != JobState.QUEUED:
            return None
        own_seq = (
            select(jobs.c.seq)
            .where(jobs.c.id == job.id, jobs.c.state == JobState.QUEUED)
            .scalar_subquery()
        )
        ahead = (
            select(func.count())
            .select_from(jobs)
            .where(
                jobs.c.state == JobState.QUEUED,
                jobs.c.resource == job.resource,
                jobs.c.seq <= own_seq,
            )
        )
        return await self._run(lambda db: int(db.scalar(ahead) or 0) or None)

    async def claim_next(self, resource: str) -> JobRecord | None:
        oldest = (
            select(jobs.c.seq)
            .where(jobs.c.state == JobState.QUEUED, jobs.c.resource == resource)
            .order_by(jobs.c.seq)
            .limit(1)
            .scalar_subquery()
        )
        return await self._claim(jobs.c.seq == oldest)

    async def claim(self, job_id: str) -> JobRecord | None:
        return await self._claim(jobs.c.id == job_id)

    async def _claim(self, which: Any) -> JobRecord | None:
        def claim(db: Connection) -> JobRecord | None:
            now = time.time()
            job_id = db.scalar(
                update(jobs)
                .where(which, jobs.c.state == JobState.QUEUED)
                .values(
                    state=JobState.RUNNING,
                    attempts=jobs.c.attempts + 1,
                    started_at=func.coalesce(jobs.c.started_at, now),
                    updated_at=now,
                )
                .returning(jobs.c.id)
            )
            return _get(db, job_id, None) if job_id else None

        return await self._run(claim)

    async def start_stage(self, job_id: str, stage: str, stage_index: int, progress: float) -> None:
        await self._update_running(job_id, stage=stage, stage_index=stage_index, progress=progress)

    async def set_progress(self, job_id: str, progress: float) -> None:
        await self._update_running(job_id, progress=progress)

    async def save_checkpoint(
        self,
        job_id: str,
        checkpoint: dict[str, Any],
        progress: float,
        completed_stages: int | None = None,
    ) -> None:
        done = {} if completed_stages is None else {"stage_index": completed_stages}
        await self._update_running(job_id, checkpoint=_dump(checkpoint), progress=progress, **done)

    async def _update_running(self, job_id: str, **values: Any) -> None:
        statement = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING)
            .values(**values, updated_at=time.time())
        )
        await self._run(lambda db: db.execute(statement))

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        done = {"progress": 1.0} if state == JobState.SUCCEEDED else {}
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            state,
            result=_dump_opt(result),
            error=_dump_opt(error),
            finished_at=time.time(),
            **done,
        )

    async def cancel(self, job_id: str) -> bool:
        return await self._transition(
            job_id,
            ACTIVE,
            JobState.CANCELLED,
            finished_at=time.time(),
            error=_dump({"message": "cancelled by the caller", "code": "cancelled"}),
        )

    async def running(self) -> list[JobRecord]:
        query = select(jobs).where(jobs.c.state == JobState.RUNNING).order_by(jobs.c.seq)
        return await self._run(lambda db: _with_artifacts(db, db.execute(query).all()))

    async def requeue(self, job_id: str, reason: str, count_attempt: bool = True) -> bool:
        refund = (
            {}
            if count_attempt
            else {"attempts": case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0)}
        )
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            JobState.QUEUED,
            error=_dump({"message": reason, "code": "resumed"}),
            **refund,
        )

    async def fail_interrupted(self, job_id: str, error: dict[str, Any]) -> bool:
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            JobState.FAILED,
            error=_dump(error),
            finished_at=time.time(),
        )

    async def _transition(
        self, job_id: str, sources: tuple[JobState, ...], target: JobState, **values: Any
    ) -> bool:
        statement = (
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state.in_(sources))
            .values(state=target, **values, updated_at=time.time())
        )
        return await self._run(lambda db: db.execute(statement).rowcount == 1)

    # --- artifacts ------------------------------------------------------------------------
    async def add_artifact(self, artifact: ArtifactRecord) -> bool:
        # the job's row locked (PostgreSQL; SQLite's transaction holds the whole file) until the
        # record is in, so that a cancel cannot slip between the check and the insert
        running = (
            select(jobs.c.id)
            .where(jobs.c.id == artifact.job_id, jobs.c.state == JobState.RUNNING)
            .with_for_update()
        )
        row = {
            "job_id": artifact.job_id,
            "name": artifact.name,
            "content_type": artifact.content_type,
            "size": artifact.size,
            "sha256": artifact.sha256,
            "created_at": artifact.created_at,
        }

        def insert(db: Connection) -> bool:
            if db.scalar(running) is None:
                return False
            upsert(db, artifacts, [row], keys=("job_id", "name"))
            return True

        return await self._run(insert)

    async def artifact(self, job_id: str, name: str) -> ArtifactRecord | None:
        query = select(artifacts).where(artifacts.c.job_id == job_id, artifacts.c.name == name)

        def select_one(db: Connection) -> ArtifactRecord | None:
            found = db.execute(query).first()
            return _artifact(found) if found else None

        return await self._run(select_one)

    async def remove_artifacts(self, job_id: str) -> None:
        statement = delete(artifacts).where(artifacts.c.job_id == job_id)
        await self._run(lambda db: db.execute(statement))

    async def delete(self, job_id: str) -> bool:
        statement = delete(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(FINISHED))
        return await self._run(lambda db: db.execute(statement).rowcount == 1)

    async def storage_bytes(self, tenant: str) -> int:
        query = (
            select(func.coalesce(func.sum(artifacts.c.size), 0))
            .select_from(artifacts.join(jobs, jobs.c.id == artifacts.c.job_id))
            .where(jobs.c.tenant == tenant)
        )
        return await self._run(lambda db: int(db.scalar(query) or 0))

    async def tenants(self) -> list[str]:
        query = select(jobs.c.tenant).distinct()
        return await self._run(lambda db: list(db.scalars(query)))

    async def job_ids(self, tenant: str, finished_before: float | None = None) -> list[str]:
        query = select(jobs.c.id).where(jobs.c.tenant == tenant)
        if finished_before is not None:
            query = query.where(jobs.c.finished_at < finished_before)
        query = query.order_by(jobs.c.seq)
        return await self._run(lambda db: list(db.scalars(query)))

    async def compact(self) -> None:
        await self.database.compact()

    # --- glossaries -----------------------------------------------------------------------
    async def put_glossary(
        self, tenant: str, name: str, entries: list[dict[str, Any]]
    ) -> GlossaryRecord:
        now = time.time()
        row = {"tenant": tenant, "name": name, "entries": _dump(entries), "updated_at": now}
        await self._run(lambda db: upsert(db, glossaries, [row], keys=("tenant", "name")))
        return GlossaryRecord(tenant, name, entries, now)

    async def get_glossary(self, tenant: str, name: str) -> GlossaryRecord | None:
        query = select(glossaries).where(glossaries.c.tenant == tenant, glossaries.c.name == name)

        def select_one(db: Connection) -> GlossaryRecord | None:
            found = db.execute(query).first()
            return _glossary(found) if found else None

        return await self._run(select_one)

    async def list_glossaries(self, tenant: str) -> list[GlossaryRecord]:
        query = select(glossaries).where(glossaries.c.tenant == tenant).order_by(glossaries.c.name)
        return await self._run(lambda db: [_glossary(row) for row in db.execute(query)])

    async def delete_glossary(self, tenant: str, name: str) -> bool:
        statement = delete(glossaries).where(
            glossaries.c.tenant == tenant, glossaries.c.name == name
        )
        return await self._run(lambda db: db.execute(statement).rowcount == 1)

    async def delete_glossaries(self, tenant: str) -> int:
        statement = delete(glossaries).where(glossaries.c.tenant == tenant)
        return await self._run(lambda db: db.execute(statement).rowcount)


# --- row mapping ----------------------------------------------------------------------------
def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dump_opt(value: Any) -> str | None:
    return None if value is None else _dump(value)


def _load_opt(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _get(db: Connection, job_id: str, tenant: str | None) -> JobRecord | None:
    query = select(jobs).where(jobs.c.id == job_id)
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    found = _with_artifacts(db, db.execute(query).all())
    return found[0] if found else None


def _with_artifacts(db: Connection, rows: Sequence[Row[Any]]) -> list[JobRecord]:
    by_job: dict[str, list[ArtifactRecord]] = {row.id: [] for row in rows}
    if by_job:
        query = (
            select(artifacts)
            .where(artifacts.c.job_id.in_(list(by_job)))
            .order_by(artifacts.c.created_at, artifacts.c.name)
        )
        for artifact_row in db.execute(query):
            by_job[artifact_row.job_id].append(_artifact(artifact_row))
    return [_job(row, tuple(by_job[row.id])) for row in rows]


def _job(row: Row[Any], artifact_records: tuple[ArtifactRecord, ...]) -> JobRecord:
    return JobRecord(
        id=row.id,
        tenant=row.tenant,
        type=row.type,
        resource=row.resource,
        state=JobState(row.state),
        input=json.loads(row.input),
        stage=row.stage,
        stage_index=row.stage_index,
        stage_count=row.stage_count,
        progress=row.progress,
        checkpoint=json.loads(row.checkpoint),
        result=_load_opt(row.result),
        error=_load_opt(row.error),
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
        artifacts=artifact_records,
    )


def _artifact(row: Row[Any]) -> ArtifactRecord:
    return ArtifactRecord(
        job_id=row.job_id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        created_at=row.created_at,
    )


def _glossary(row: Row[Any]) -> GlossaryRecord:
    return GlossaryRecord(row.tenant, row.name, json.loads(row.entries), row.updated_at)
