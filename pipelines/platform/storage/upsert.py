"""INSERT ... ON CONFLICT DO UPDATE in the dialect's own words (SQLite and PostgreSQL share them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

INSERTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def upsert(
    db: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    add: Sequence[str] = (),
) -> None:
    """Insert `rows`; where a row with the same `keys` exists, its other columns take the new
    values, except the `add` ones, which take the sum of the old and the new."""
    statement = INSERTS[db.dialect.name](table)
    new = statement.excluded
    changes = {
        name: table.c[name] + new[name] if name in add else new[name]
        for name in rows[0]
        if name not in keys
    }
    db.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes), rows)
