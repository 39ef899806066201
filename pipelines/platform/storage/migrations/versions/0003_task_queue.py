"""procrastinate's schema (the task queue of jobs on PostgreSQL), on PostgreSQL only.

It is procrastinate's own `schema.sql` of the installed version (pinned in pyproject.toml): a
database created from here on gets the queue whole. Moving to a newer procrastinate takes a new
revision that applies that release's files of `procrastinate/sql/migrations/` in order. SQLite
has no task queue: the revision leaves it as it is.
"""

from __future__ import annotations

from alembic import op

from pipelines.platform.storage.task_queue import apply_task_queue_schema, drop_task_queue_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        apply_task_queue_schema(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        drop_task_queue_schema(op.get_bind())
