"""Schema revisions: Alembic driven from code, on a connection the storage layer already holds."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

log = logging.getLogger(__name__)
SCRIPTS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # configparser would read a '%' in the path as interpolation
    config.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the schema to the newest revision (or to `revision`, as an older node left it), in
    the connection's open transaction."""
    before = current_revision(connection)
    command.upgrade(_config(connection), revision)
    after = current_revision(connection)
    if after != before:
        log.info("database schema upgraded from revision %s to %s", before or "none", after)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None before the first upgrade."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, f"no revisions in {SCRIPTS}"
    return head
