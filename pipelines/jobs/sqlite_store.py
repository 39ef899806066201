"""SQLite implementation of JobStore and GlossaryStore: one WAL-mode file, one connection on one
thread of its own, so the event loop never blocks on the database."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pipelines.jobs.store import GlossaryRecord
from pipelines.jobs.types import ArtifactRecord, JobRecord, JobState
from pipelines.sqlite import SerialSQLite

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    tenant       TEXT NOT NULL,
    type         TEXT NOT NULL,
    resource     TEXT NOT NULL,
    state        TEXT NOT NULL,
    input        TEXT NOT NULL,
    stage        TEXT,
    stage_index  INTEGER NOT NULL DEFAULT 0,
    stage_count  INTEGER NOT NULL,
    progress     REAL NOT NULL DEFAULT 0,
    checkpoint   TEXT NOT NULL DEFAULT '{}',
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    updated_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, seq);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, resource, seq);
CREATE TABLE IF NOT EXISTS artifacts (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS glossaries (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    entries    TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, name)
);
"""


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


class SQLiteJobStore:
    """JobStore + GlossaryStore on one SQLite file (single server process per file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sql = SerialSQLite(path, SCHEMA, "job", SCHEMA_VERSION)
        self._run = self._sql.run

    async def open(self) -> None:
        await self._sql.open()

    async def close(self) -> None:
        await self._sql.close()

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

        def insert(db: sqlite3.Connection) -> JobRecord | None:
            if max_active is not None:  # counted in the insert's transaction: no race past it
                (active,) = db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE tenant = ? AND state IN ('queued', 'running')",
                    (tenant,),
                ).fetchone()
                if active >= max_active:
                    return None
            db.execute(
                "INSERT INTO jobs (id, tenant, type, resource, state, input, stage_count,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    tenant,
                    type,
                    resource,
                    JobState.QUEUED,
                    _dump(input),
                    stage_count,
                    now,
                    now,
                ),
            )
            return _get(db, job_id, None)

        return await self._run(insert)

    async def get(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        return await self._run(lambda db: _get(db, job_id, tenant))

    async def list_jobs(
        self, tenant: str, *, state: JobState | None = None, limit: int = 100
    ) -> list[JobRecord]:
        def select(db: sqlite3.Connection) -> list[JobRecord]:
            sql = "SELECT * FROM jobs WHERE tenant = ?"
            params: list[Any] = [tenant]
            if state is not None:
                sql += " AND state = ?"
                params.append(state)
            rows = db.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit]).fetchall()
            return _with_artifacts(db, rows)

        return await self._run(select)

    async def queue_position(self, job: JobRecord) -> int | None:
        if job.state != JobState.QUEUED:
            return None

        def count(db: sqlite3.Connection) -> int | None:
            row = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND resource = ?"
                " AND seq <= (SELECT seq FROM jobs WHERE id = ? AND state = 'queued')",
                (job.resource, job.id),
            ).fetchone()
            return int(row[0]) or None

        return await self._run(count)

    async def claim_next(self, resource: str) -> JobRecord | None:
        def claim(db: sqlite3.Connection) -> JobRecord | None:
            now = time.time()
            row = db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                " started_at = COALESCE(started_at, ?), updated_at = ?"
                " WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' AND resource = ?"
                " ORDER BY seq LIMIT 1) AND state = 'queued' RETURNING id",
                (now, now, resource),
            ).fetchone()
            return _get(db, row["id"], None) if row else None

        return await self._run(claim)

    async def start_stage(self, job_id: str, stage: str, stage_index: int, progress: float) -> None:
        await self._update_running(
            job_id, "stage = ?, stage_index = ?, progress = ?", (stage, stage_index, progress)
        )

    async def set_progress(self, job_id: str, progress: float) -> None:
        await self._update_running(job_id, "progress = ?", (progress,))

    async def save_checkpoint(
        self,
        job_id: str,
        checkpoint: dict[str, Any],
        progress: float,
        completed_stages: int | None = None,
    ) -> None:
        if completed_stages is None:
            await self._update_running(
                job_id, "checkpoint = ?, progress = ?", (_dump(checkpoint), progress)
            )
        else:
            await self._update_running(
                job_id,
                "checkpoint = ?, progress = ?, stage_index = ?",
                (_dump(checkpoint), progress, completed_stages),
            )

    async def _update_running(self, job_id: str, assignments: str, params: tuple[Any, ...]) -> None:
        await self._run(
            lambda db: db.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ? AND state = 'running'",
                (*params, time.time(), job_id),
            )
        )

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        progress_sql = ", progress = 1" if state == JobState.SUCCEEDED else ""
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            state,
            f"result = ?, error = ?, finished_at = ?{progress_sql}",
            (_dump_opt(result), _dump_opt(error), time.time()),
        )

    async def cancel(self, job_id: str) -> bool:
        return await self._transition(
            job_id,
            (JobState.QUEUED, JobState.RUNNING),
            JobState.CANCELLED,
            "finished_at = ?, error = ?",
            (time.time(), _dump({"message": "cancelled by the caller", "code": "cancelled"})),
        )

    async def running(self) -> list[JobRecord]:
        return await self._run(
            lambda db: _with_artifacts(
                db, db.execute("SELECT * FROM jobs WHERE state = 'running' ORDER BY seq").fetchall()
            )
        )

    async def requeue(self, job_id: str, reason: str, count_attempt: bool = True) -> bool:
        refund = "" if count_attempt else ", attempts = MAX(attempts - 1, 0)"
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            JobState.QUEUED,
            f"error = ?{refund}",
            (_dump({"message": reason, "code": "resumed"}),),
        )

    async def fail_interrupted(self, job_id: str, error: dict[str, Any]) -> bool:
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            JobState.FAILED,
            "error = ?, finished_at = ?",
            (_dump(error), time.time()),
        )

    async def _transition(
        self,
        job_id: str,
        sources: tuple[JobState, ...],
        target: JobState,
        assignments: str,
        params: tuple[Any, ...],
    ) -> bool:
        marks = ", ".join("?" for _ in sources)

        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                f"UPDATE jobs SET state = ?, {assignments}, updated_at = ?"
                f" WHERE id = ? AND state IN ({marks})",
                (target, *params, time.time(), job_id, *sources),
            )
            return cursor.rowcount == 1

        return await self._run(update)

    # --- artifacts ------------------------------------------------------------------------
    async def add_artifact(self, artifact: ArtifactRecord) -> bool:
        def insert(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR REPLACE INTO artifacts (job_id, name, content_type, size, sha256,"
                " created_at) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM jobs WHERE id = ? AND state = 'running')",
                (
                    artifact.job_id,
                    artifact.name,
                    artifact.content_type,
                    artifact.size,
                    artifact.sha256,
                    artifact.created_at,
                    artifact.job_id,
                ),
            )
            return cursor.rowcount == 1

        return await self._run(insert)

    async def artifact(self, job_id: str, name: str) -> ArtifactRecord | None:
        def select(db: sqlite3.Connection) -> ArtifactRecord | None:
            row = db.execute(
                "SELECT * FROM artifacts WHERE job_id = ? AND name = ?", (job_id, name)
            ).fetchone()
            return _artifact(row) if row else None

        return await self._run(select)

    async def remove_artifacts(self, job_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM artifacts WHERE job_id = ?", (job_id,)))

    async def delete(self, job_id: str) -> bool:
        finished = tuple(state.value for state in JobState if state.finished)
        return await self._run(
            lambda db: (
                db.execute(
                    "DELETE FROM jobs WHERE id = ? AND state IN (?, ?, ?)", (job_id, *finished)
                ).rowcount
                == 1
            )
        )

    async def storage_bytes(self, tenant: str) -> int:
        def total(db: sqlite3.Connection) -> int:
            (size,) = db.execute(
                "SELECT COALESCE(SUM(a.size), 0) FROM artifacts a JOIN jobs j ON j.id = a.job_id"
                " WHERE j.tenant = ?",
                (tenant,),
            ).fetchone()
            return int(size)

        return await self._run(total)

    async def tenants(self) -> list[str]:
        return await self._run(
            lambda db: [row[0] for row in db.execute("SELECT DISTINCT tenant FROM jobs")]
        )

    async def job_ids(self, tenant: str, finished_before: float | None = None) -> list[str]:
        def select(db: sqlite3.Connection) -> list[str]:
            sql = "SELECT id FROM jobs WHERE tenant = ?"
            params: list[Any] = [tenant]
            if finished_before is not None:
                sql += " AND finished_at < ?"
                params.append(finished_before)
            return [row[0] for row in db.execute(sql + " ORDER BY seq", params)]

        return await self._run(select)

    # --- glossaries -----------------------------------------------------------------------
    async def put_glossary(
        self, tenant: str, name: str, entries: list[dict[str, Any]]
    ) -> GlossaryRecord:
        now = time.time()
        await self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO glossaries (tenant, name, entries, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (tenant, name, _dump(entries), now),
            )
        )
        return GlossaryRecord(tenant, name, entries, now)

    async def get_glossary(self, tenant: str, name: str) -> GlossaryRecord | None:
        def select(db: sqlite3.Connection) -> GlossaryRecord | None:
            row = db.execute(
                "SELECT * FROM glossaries WHERE tenant = ? AND name = ?", (tenant, name)
            ).fetchone()
            return _glossary(row) if row else None

        return await self._run(select)

    async def list_glossaries(self, tenant: str) -> list[GlossaryRecord]:
        return await self._run(
            lambda db: [
                _glossary(row)
                for row in db.execute(
                    "SELECT * FROM glossaries WHERE tenant = ? ORDER BY name", (tenant,)
                )
            ]
        )

    async def delete_glossary(self, tenant: str, name: str) -> bool:
        return await self._run(
            lambda db: (
                db.execute(
                    "DELETE FROM glossaries WHERE tenant = ? AND name = ?", (tenant, name)
                ).rowcount
                == 1
            )
        )

    async def compact(self) -> None:
        """secure_delete zeroed the deleted rows in the database file; the WAL still holds
        older copies of those pages until it is checkpointed and truncated."""

        await self._sql.checkpoint()

    async def delete_glossaries(self, tenant: str) -> int:
        return await self._run(
            lambda db: db.execute("DELETE FROM glossaries WHERE tenant = ?", (tenant,)).rowcount
        )


# --- row mapping ----------------------------------------------------------------------------
def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dump_opt(value: Any) -> str | None:
    return None if value is None else _dump(value)


def _load_opt(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _get(db: sqlite3.Connection, job_id: str, tenant: str | None) -> JobRecord | None:
    sql, params = "SELECT * FROM jobs WHERE id = ?", [job_id]
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    rows = db.execute(sql, params).fetchall()
    jobs = _with_artifacts(db, rows)
    return jobs[0] if jobs else None


def _with_artifacts(db: sqlite3.Connection, rows: Iterable[sqlite3.Row]) -> list[JobRecord]:
    rows = list(rows)
    by_job: dict[str, list[ArtifactRecord]] = {row["id"]: [] for row in rows}
    if by_job:
        marks = ", ".join("?" for _ in by_job)
        for artifact_row in db.execute(
            f"SELECT * FROM artifacts WHERE job_id IN ({marks}) ORDER BY created_at, name",
            list(by_job),
        ):
            by_job[artifact_row["job_id"]].append(_artifact(artifact_row))
    return [_job(row, tuple(by_job[row["id"]])) for row in rows]


def _job(row: sqlite3.Row, artifacts: tuple[ArtifactRecord, ...]) -> JobRecord:
    return JobRecord(
        id=row["id"],
        tenant=row["tenant"],
        type=row["type"],
        resource=row["resource"],
        state=JobState(row["state"]),
        input=json.loads(row["input"]),
        stage=row["stage"],
        stage_index=row["stage_index"],
        stage_count=row["stage_count"],
        progress=row["progress"],
        checkpoint=json.loads(row["checkpoint"]),
        result=_load_opt(row["result"]),
        error=_load_opt(row["error"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=row["updated_at"],
        artifacts=artifacts,
    )


def _artifact(row: sqlite3.Row) -> ArtifactRecord:
    return ArtifactRecord(
        job_id=row["job_id"],
        name=row["name"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        created_at=row["created_at"],
    )


def _glossary(row: sqlite3.Row) -> GlossaryRecord:
    return GlossaryRecord(row["tenant"], row["name"], json.loads(row["entries"]), row["updated_at"])
