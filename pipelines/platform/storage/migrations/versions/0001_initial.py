"""The jobs, artifacts, glossaries, keys, quotas, usage and audit tables.

Every table and index is created only if it is missing: databases written before revisions
existed hold some or all of them already (the account tables alone when `localshang keys` ran
before the first `serve`), and are adopted with their rows. The tables are spelled out here, not
taken from schema.py, because a revision stays what it was when later ones change the schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("stage_index", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("stage_count", sa.Integer, nullable=False),
        sa.Column("progress", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("checkpoint", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
        if_not_exists=True,
    )
    op.create_index("jobs_by_tenant", "jobs", ["tenant", "seq"], if_not_exists=True)
    op.create_index("jobs_by_state", "jobs", ["state", "resource", "seq"], if_not_exists=True)
    op.create_table(
        "artifacts",
        sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "name"),
        if_not_exists=True,
    )
    op.create_table(
        "glossaries",
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("entries", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "name"),
        if_not_exists=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("salt", sa.LargeBinary, nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("label", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        if_not_exists=True,
    )
    op.create_index("api_keys_by_tenant", "api_keys", ["tenant"], if_not_exists=True)
    op.create_table(
        "tenant_quotas",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("quotas", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "usage",
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("amount", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "day", "metric"),
        if_not_exists=True,
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("details", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sqlite_autoincrement=True,
        if_not_exists=True,
    )
    op.create_index("audit_by_tenant", "audit_log", ["tenant", "seq"], if_not_exists=True)


def downgrade() -> None:
    tables = ("audit_log", "usage", "tenant_quotas", "api_keys", "glossaries", "artifacts", "jobs")
    for table in tables:  # artifacts before the jobs they refer to
        op.drop_table(table)
