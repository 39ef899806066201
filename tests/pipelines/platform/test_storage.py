"""The storage seam: one database named by a URL (or a SQLite file's path), its schema kept at
the newest revision, and databases written before revisions existed adopted with their rows."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from pipelines.platform.jobs.types import ArtifactRecord
from pipelines.platform.storage.database import Database, SchemaOutdated
from pipelines.platform.storage.migrate import head_revision, upgrade
from pipelines.platform.storage.schema import metadata
from pipelines.platform.storage.stores import stores_for
from pipelines.platform.storage.task_queue import is_task_queue_object
from tests.fixtures_jobs import build_app, serve_in_process
from tests.fixtures_tenancy import run_cli, tenancy_settings

# The DDL the job and account stores ran at every start before there were revisions, verbatim.
PRE_REVISION_JOB_TABLES = """
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
PRE_REVISION_ACCOUNT_TABLES = """
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    salt        BLOB NOT NULL,
    digest      BLOB NOT NULL,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    label       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant);
CREATE TABLE IF NOT EXISTS tenant_quotas (
    tenant      TEXT PRIMARY KEY,
    quotas      TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    tenant      TEXT NOT NULL,
    day         TEXT NOT NULL,
    metric      TEXT NOT NULL,
    amount      REAL NOT NULL,
    PRIMARY KEY (tenant, day, metric)
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    actor       TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit_log (tenant, seq);
"""


def config(tmp_path: Path, database: str | None = None) -> Path:
    path = tmp_path / "config.yaml"
    settings: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "models": []}
    if database is not None:
        settings["jobs"] = {"database": database}
    path.write_text(yaml.safe_dump(settings))
    return path


def old_database(path: Path, ddl: str) -> None:
    """A database as the stores left it before revisions: the tables, rows, no alembic_version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(ddl)
        if "api_keys" in ddl:
            db.execute(
                "INSERT INTO api_keys (id, tenant, salt, digest, is_admin, label, created_at)"
                " VALUES ('k0ld', 'shop-a', ?, ?, 1, 'from before', 1.0)",
                (b"s" * 16, b"d" * 32),
            )
            db.execute("INSERT INTO usage VALUES ('shop-a', '2024-05-01', 'jobs_created', 3)")
        if "jobs" in ddl:
            db.execute(
                "INSERT INTO jobs (id, tenant, type, resource, state, input, stage_count,"
                " created_at, updated_at, finished_at)"
                " VALUES ('job_old', 'shop-a', 'slow', 'test', 'succeeded', '{}', 2, 1, 2, 2)"
            )
            db.execute(
                "INSERT INTO artifacts VALUES ('job_old', 'out.txt', 'text/plain', 7, 'ab', 2)"
            )
            db.execute("INSERT INTO glossaries VALUES ('shop-a', 'brand', '[]', 1)")
    db.close()


def test_a_fresh_database_is_at_the_newest_revision(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    code, _, err = run_cli(cfg, "db", "current")
    assert code == 1 and "no database" in err  # asking does not create it
    assert not (tmp_path / "data" / "jobs.sqlite3").exists()

    code, out, _ = run_cli(cfg, "db", "upgrade")
    assert code == 0 and out.strip() == f"{head_revision()} (head)"
    code, out, _ = run_cli(cfg, "db", "current")
    assert code == 0 and out.strip() == f"{head_revision()} (head)"


async def test_db_upgrade_migrates_the_database_a_url_names(
    tmp_path: Path, database_url: str
) -> None:
    cfg = config(tmp_path, database_url)
    code, out, _ = await asyncio.to_thread(run_cli, cfg, "db", "upgrade")
    assert code == 0 and out.strip() == f"{head_revision()} (head)"
    code, out, _ = await asyncio.to_thread(run_cli, cfg, "db", "current")
    assert code == 0 and out.strip() == f"{head_revision()} (head)"


async def test_a_node_on_an_older_schema_upgrades_sqlite_but_refuses_a_shared_postgresql(
    tmp_path: Path, database_url: str
) -> None:
    """SQLite is this process's own file: the server upgrades it. PostgreSQL is shared by nodes
    that may still run the older code: the server refuses it until the operator upgrades it."""
    older = Database.from_url(database_url)
    await older.open(upgrade=False)
    await older.run(lambda connection: upgrade(connection, "0001"))
    await older.close()
    settings = tenancy_settings(tmp_path)
    settings.jobs.database = database_url

    if older.is_sqlite:
        async with serve_in_process(build_app(settings)) as client:
            assert (await client.get("/health")).status_code == 200
    else:
        with pytest.raises(SchemaOutdated, match=r"revision 0001.*run `localshang db upgrade`"):
            async with serve_in_process(build_app(settings)):
                pass
        code, _, err = await asyncio.to_thread(
            run_cli, config(tmp_path, database_url), "db", "upgrade"
        )
        assert code == 0, err
        async with serve_in_process(build_app(settings)) as client:
            assert (await client.get("/health")).status_code == 200
    await older.open(upgrade=False)
    try:
        assert await older.revision() == head_revision()
    finally:
        await older.close()


async def test_the_revisions_build_the_tables_the_stores_use(database_url: str) -> None:
    database = Database.from_url(database_url)
    await database.open(upgrade=True)
    try:

        def differences(connection: Connection) -> list[Any]:
            # procrastinate's tables (revision 0003) are its own, not schema.py's
            ours = {"include_name": lambda name, *_: not is_task_queue_object(name)}
            context = MigrationContext.configure(connection, opts=ours)
            return list(compare_metadata(context, metadata))

        assert await database.run(differences) == []
    finally:
        await database.close()


async def test_a_database_from_before_revisions_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jobs.sqlite3"
    old_database(path, PRE_REVISION_JOB_TABLES + PRE_REVISION_ACCOUNT_TABLES)
    cfg = config(tmp_path)
    code, out, _ = await asyncio.to_thread(run_cli, cfg, "db", "current")
    assert code == 0 and out.startswith("none")  # not migrated yet

    code, out, err = await asyncio.to_thread(run_cli, cfg, "keys", "list")  # opening it upgrades it
    assert code == 0, err
    assert "k0ld" in out and "from before" in out and "admin" in out
    code, out, _ = await asyncio.to_thread(run_cli, cfg, "db", "current")
    assert out.strip() == f"{head_revision()} (head)"

    stores = stores_for(str(path))
    await stores.database.open()
    try:
        job = await stores.jobs.get("job_old", "shop-a")
        assert job is not None and job.state == "succeeded"
        assert [a.name for a in job.artifacts] == ["out.txt"]
        assert [g.name for g in await stores.jobs.list_glossaries("shop-a")] == ["brand"]
        assert [(u.metric, u.amount) for u in await stores.accounts.usage("shop-a")] == [
            ("jobs_created", 3)
        ]
        # and it goes on working: new rows beside the old ones
        new = await stores.jobs.create(
            tenant="shop-a", type="slow", resource="test", input={}, stage_count=1
        )
        assert new is not None and [j.id for j in await stores.jobs.list_jobs("shop-a")] == [
            new.id,
            "job_old",
        ]
    finally:
        await stores.database.close()


async def test_a_database_with_only_the_account_tables_gets_the_job_tables(
    tmp_path: Path,
) -> None:
    """Before revisions, `localshang keys` run before the first `serve` made only its own."""
    path = tmp_path / "jobs.sqlite3"
    old_database(path, PRE_REVISION_ACCOUNT_TABLES)
    stores = stores_for(str(path))
    await stores.database.open()
    try:
        assert [k.id for k in await stores.accounts.list_keys()] == ["k0ld"]
        job = await stores.jobs.create(
            tenant="shop-a", type="slow", resource="test", input={}, stage_count=1
        )
        assert job is not None and await stores.jobs.claim_next("test") is not None
        assert await stores.jobs.add_artifact(
            ArtifactRecord(job.id, "a.txt", "text/plain", 1, "x", 1.0)
        )
    finally:
        await stores.database.close()


def test_a_url_and_a_plain_path_name_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "accounts.sqlite3"
    code, _, err = run_cli(config(tmp_path, f"sqlite:///{path}"), "keys", "create", "--tenant", "a")
    assert code == 0, err
    assert path.is_file() and not (tmp_path / "data" / "jobs.sqlite3").exists()

    code, out, _ = run_cli(config(tmp_path, str(path)), "keys", "list")
    assert code == 0 and " a " in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mysql://shop:hunter2@db.example/jobs", "unsupported database 'mysql'"),
        ("sqlite://", "SQLite needs a file"),
        ("sqlite:///:memory:", "SQLite needs a file"),
    ],
)
def test_a_database_url_that_cannot_work_is_refused_saying_why(
    tmp_path: Path, target: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Database.from_url(target)
    code, out, err = run_cli(config(tmp_path, target), "db", "upgrade")
    assert code == 2 and message in err and out == ""
    assert "hunter2" not in err  # a password in the URL is never shown


async def test_stores_on_one_database_share_it_until_the_last_is_closed(database_url: str) -> None:
    stores = stores_for(database_url)
    await stores.database.open(upgrade=True)  # a PostgreSQL database is upgraded explicitly
    await stores.jobs.open()
    await stores.accounts.open()
    await stores.jobs.close()
    assert await stores.accounts.any_keys() is False  # still open for the accounts
    await stores.accounts.close()
    await stores.database.close()
    with pytest.raises(RuntimeError, match="not open"):
        await stores.accounts.any_keys()
