"""SQLite implementation of AccountStore, in the jobs' database file (WAL: the job store and the
`localshang keys` command may use the same file at the same time)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, TypeVar

from pipelines.accounts.types import AuditEvent, KeyRecord, UsageRow
from pipelines.sqlite import SerialSQLite

T = TypeVar("T")

SCHEMA = """
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


def database_has_keys(path: Path) -> bool:
    """Whether the database file holds API keys (checked by `serve` before binding)."""
    if not path.is_file():
        return False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0] == 1
    except sqlite3.OperationalError:  # no api_keys table: never had keys
        return False
    finally:
        db.close()


class SQLiteAccountStore:
    """One connection on a thread of its own, so the event loop never blocks on the database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sql = SerialSQLite(path, SCHEMA, "account")
        self._run = self._sql.run

    async def open(self) -> None:
        await self._sql.open()

    async def close(self) -> None:
        await self._sql.close()

    @property
    def is_open(self) -> bool:
        return self._sql.is_open

    # --- keys -------------------------------------------------------------------------------
    async def add_key(self, key: KeyRecord) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO api_keys (id, tenant, salt, digest, is_admin, label, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.tenant,
                    key.salt,
                    key.digest,
                    int(key.is_admin),
                    key.label,
                    key.created_at,
                ),
            )
        )

    async def key(self, key_id: str) -> KeyRecord | None:
        def select(db: sqlite3.Connection) -> KeyRecord | None:
            row = db.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            return _key(row) if row else None

        return await self._run(select)

    async def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        def select(db: sqlite3.Connection) -> list[KeyRecord]:
            if tenant is None:
                rows = db.execute("SELECT * FROM api_keys ORDER BY created_at, id")
            else:
                rows = db.execute(
                    "SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id", (tenant,)
                )
            return [_key(row) for row in rows]

        return await self._run(select)

    async def revoke_keys(
        self, *, key_id: str | None = None, tenant: str | None = None
    ) -> list[str]:
        if (key_id is None) == (tenant is None):
            raise ValueError("revoke one key (key_id) or all of a tenant's (tenant)")
        column, value = ("id", key_id) if key_id is not None else ("tenant", tenant)
        return await self._run(
            lambda db: [
                row[0]
                for row in db.execute(
                    f"UPDATE api_keys SET revoked_at = ? WHERE {column} = ?"
                    " AND revoked_at IS NULL RETURNING id",
                    (time.time(), value),
                ).fetchall()
            ]
        )

    async def any_keys(self) -> bool:
        return await self._run(
            lambda db: db.execute("SELECT EXISTS (SELECT 1 FROM api_keys)").fetchone()[0] == 1
        )

    # --- quotas -----------------------------------------------------------------------------
    async def quota_overrides(self, tenant: str) -> dict[str, Any]:
        def select(db: sqlite3.Connection) -> dict[str, Any]:
            row = db.execute(
                "SELECT quotas FROM tenant_quotas WHERE tenant = ?", (tenant,)
            ).fetchone()
            return dict(json.loads(row[0])) if row else {}

        return await self._run(select)

    async def set_quota_overrides(self, tenant: str, overrides: dict[str, Any]) -> None:
        def write(db: sqlite3.Connection) -> None:
            if not overrides:
                db.execute("DELETE FROM tenant_quotas WHERE tenant = ?", (tenant,))
                return
            db.execute(
                "INSERT OR REPLACE INTO tenant_quotas (tenant, quotas, updated_at)"
                " VALUES (?, ?, ?)",
                (tenant, json.dumps(overrides, sort_keys=True), time.time()),
            )

        await self._run(write)

    # --- usage ------------------------------------------------------------------------------
    async def add_usage(self, tenant: str, day: str, amounts: dict[str, float]) -> None:
        await self._run(
            lambda db: db.executemany(
                "INSERT INTO usage (tenant, day, metric, amount) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant, day, metric) DO UPDATE SET amount = amount + excluded.amount",
                [(tenant, day, metric, amount) for metric, amount in amounts.items()],
            )
        )

    async def usage(
        self, tenant: str | None = None, start_day: str | None = None, end_day: str | None = None
    ) -> list[UsageRow]:
        def select(db: sqlite3.Connection) -> list[UsageRow]:
            clauses, params = [], []
            for clause, value in (
                ("tenant = ?", tenant),
                ("day >= ?", start_day),
                ("day <= ?", end_day),
            ):
                if value is not None:
                    clauses.append(clause)
                    params.append(value)
            where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = db.execute(
                f"SELECT * FROM usage{where} ORDER BY tenant, day, metric", params
            ).fetchall()
            return [UsageRow(r["tenant"], r["day"], r["metric"], r["amount"]) for r in rows]

        return await self._run(select)

    # --- audit ------------------------------------------------------------------------------
    async def audit(self, event: AuditEvent) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO audit_log (at, actor, tenant, action, target, details)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.at or time.time(),
                    event.actor,
                    event.tenant,
                    event.action,
                    event.target,
                    json.dumps(event.details, ensure_ascii=False, sort_keys=True),
                ),
            )
        )

    async def audit_log(self, tenant: str | None = None, limit: int = 100) -> list[AuditEvent]:
        def select(db: sqlite3.Connection) -> list[AuditEvent]:
            if tenant is None:
                rows = db.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,))
            else:
                rows = db.execute(
                    "SELECT * FROM audit_log WHERE tenant = ? ORDER BY seq DESC LIMIT ?",
                    (tenant, limit),
                )
            return [
                AuditEvent(
                    action=r["action"],
                    actor=r["actor"],
                    tenant=r["tenant"],
                    target=r["target"],
                    details=json.loads(r["details"]),
                    at=r["at"],
                    seq=r["seq"],
                )
                for r in rows
            ]

        return await self._run(select)

    async def tenants(self) -> list[str]:
        return await self._run(
            lambda db: [
                row[0]
                for row in db.execute(
                    "SELECT tenant FROM api_keys UNION SELECT tenant FROM tenant_quotas"
                    " UNION SELECT tenant FROM usage ORDER BY 1"
                )
            ]
        )


def _key(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        tenant=row["tenant"],
        is_admin=bool(row["is_admin"]),
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        salt=bytes(row["salt"]),
        digest=bytes(row["digest"]),
    )
