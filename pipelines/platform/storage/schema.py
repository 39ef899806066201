"""The tables of the job and account stores, in SQLAlchemy Core: one schema for every database.

Timestamps are seconds since the epoch (double precision); JSON documents are kept as text the
stores write and read themselves, so that every database holds the same bytes. A change here is
a new revision in migrations/versions/.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    false,
    text,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    # the queue's order: AUTOINCREMENT so that a deleted job's number is never handed out again
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("tenant", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("input", Text, nullable=False),
    Column("stage", Text),
    Column("stage_index", Integer, nullable=False, server_default=text("0")),
    Column("stage_count", Integer, nullable=False),
    Column("progress", Double, nullable=False, server_default=text("0")),
    Column("checkpoint", Text, nullable=False, server_default=text("'{}'")),
    Column("result", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("updated_at", Double, nullable=False),
    Index("jobs_by_tenant", "tenant", "seq"),
    Index("jobs_by_state", "state", "resource", "seq"),
    sqlite_autoincrement=True,
)

artifacts = Table(
    "artifacts",
    metadata,
    Column(
        "job_id", Text, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, nullable=False
    ),
    Column("name", Text, primary_key=True, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),  # bytes: a video may pass 2 GiB
    Column("sha256", Text, nullable=False),
    Column("created_at", Double, nullable=False),
)

glossaries = Table(
    "glossaries",
    metadata,
    Column("tenant", Text, primary_key=True, nullable=False),
    Column("name", Text, primary_key=True, nullable=False),
    Column("entries", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("salt", LargeBinary, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("label", Text, nullable=False, server_default=text("''")),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
    Index("api_keys_by_tenant", "tenant"),
)

tenant_quotas = Table(
    "tenant_quotas",
    metadata,
    Column("tenant", Text, primary_key=True),
    Column("quotas", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
)

usage = Table(
    "usage",
    metadata,
    Column("tenant", Text, primary_key=True, nullable=False),
    Column("day", Text, primary_key=True, nullable=False),
    Column("metric", Text, primary_key=True, nullable=False),
    Column("amount", Double, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
    Index("audit_by_tenant", "tenant", "seq"),
    sqlite_autoincrement=True,
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", Text, primary_key=True),  # sha256 hex of the cookie's token: never the token
    Column("tenant", Text, nullable=False),
    Column("key_id", Text),  # CONFIG_KEY_ID for a config key; null: signed in when no keys existed
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("console_sessions_by_expiry", "expires_at"),
)
