"""procrastinate's way into the jobs' PostgreSQL database: its connector (psycopg 3, a pool of
its own beside the stores' engine) and its schema, which `localshang db upgrade` applies.

The job runtime (pipelines/platform/jobs/cluster.py) gets the connector from here, so the
database driver stays in this layer; on SQLite there is no task queue (the runner is in-process).
"""

from __future__ import annotations

from typing import Any

from procrastinate import PsycopgConnector
from procrastinate.schema import SchemaManager
from sqlalchemy import Connection

from pipelines.platform.storage.database import database_url

# Connections of one node's workers and submits; each worker's LISTEN takes one more of its own.
POOL_SIZE = 8


def task_queue_connector(target: str) -> PsycopgConnector | None:
    """A connector to the database `target` names (see database_url) when it is PostgreSQL;
    None for SQLite. Nothing is opened yet (procrastinate's App.open_async does)."""
    url = database_url(target)
    if url.get_backend_name() != "postgresql":
        return None
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PsycopgConnector(conninfo=conninfo, min_size=1, max_size=POOL_SIZE)


DROP_SCHEMA = """
DO $$
DECLARE item record;
BEGIN
    DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
        procrastinate_jobs, procrastinate_workers CASCADE;
    FOR item IN SELECT oid::regprocedure AS name FROM pg_proc
            WHERE proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE 'DROP FUNCTION ' || item.name || ' CASCADE';
    END LOOP;
    FOR item IN SELECT typname FROM pg_type
            WHERE typname LIKE 'procrastinate\\_%' AND typtype IN ('e', 'c') LOOP
        EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(item.typname) || ' CASCADE';
    END LOOP;
END $$
"""


def apply_task_queue_schema(connection: Connection) -> None:
    """procrastinate's tables, types and functions, in the migration's open transaction."""
    _script(connection, SchemaManager.get_schema())


def drop_task_queue_schema(connection: Connection) -> None:
    _script(connection, DROP_SCHEMA)


def _script(connection: Connection, sql: str) -> None:
    """`sql` as one script through the driver, unbound: procrastinate's functions hold '%' and
    ':' that a statement with parameters would read as placeholders."""
    driver: Any = connection.connection.driver_connection
    driver.execute(sql)


def is_task_queue_object(name: str | None) -> bool:
    """Whether a database object is procrastinate's (its own schema, not in schema.py)."""
    return bool(name) and str(name).startswith("procrastinate_")
