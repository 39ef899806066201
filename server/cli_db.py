"""`localshang db upgrade|current`: the schema revision of the jobs' and accounts' database
(settings.jobs_database()). The server upgrades a SQLite file at start too; a PostgreSQL database,
shared by nodes, only this command upgrades (a node refuses one at an older revision)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pipelines.platform.storage.database import Database
from pipelines.platform.storage.migrate import head_revision
from pipelines.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db` to the `localshang` command."""
    db = subparsers.add_parser("db", help="the database's schema revision")
    commands = db.add_subparsers(dest="db_command", required=True)
    commands.add_parser("upgrade", help="migrate the database to the newest revision")
    commands.add_parser("current", help="the revision the database is at")
    db.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        database = Database.from_url(settings.jobs_database())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    upgrade = args.db_command == "upgrade"
    if not upgrade and not database.exists():
        print(
            f"no database at {database.url} yet: `localshang db upgrade` creates it",
            file=sys.stderr,
        )
        return 1
    print(_describe(asyncio.run(_revision(database, upgrade))))
    return 0


async def _revision(database: Database, upgrade: bool) -> str | None:
    await database.open(upgrade=upgrade)
    try:
        return await database.revision()
    finally:
        await database.close()


def _describe(revision: str | None) -> str:
    head = head_revision()
    if revision == head:
        return f"{revision} (head)"
    return f"{revision or 'none'} (the newest is {head}: run `localshang db upgrade`)"
