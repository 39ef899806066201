"""Alembic's environment: runs the revisions on the connection that storage/migrate.py hands
in, inside the transaction it has open (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context

from pipelines.platform.storage.schema import metadata
from pipelines.platform.storage.task_queue import is_task_queue_object

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrate with `localshang db upgrade`, which passes a connection in")
context.configure(
    connection=connection,
    target_metadata=metadata,
    # procrastinate's own tables (revision 0003) are its, not schema.py's
    include_name=lambda name, _type, _parents: not is_task_queue_object(name),
)
with context.begin_transaction():
    context.run_migrations()
