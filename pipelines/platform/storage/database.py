"""One database named by a URL: its engine, its schema revisions, and every store call as one
transaction on a worker thread of its own, so the event loop never waits on the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pipelines.platform.storage import migrate

T = TypeVar("T")

BACKENDS = ("sqlite", "postgresql")
# A server's connections to PostgreSQL; SQLite takes one writer at a time, so one thread.
POSTGRESQL_THREADS = 8
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # NORMAL in WAL mode loses nothing when the process is killed; only an OS crash may drop the
    # last transactions, never corrupt the file.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # deleted rows (jobs, glossaries, keys) hold merchant data: zero their pages. PostgreSQL has
    # no equivalent: a deleted row stays in its page until VACUUM reuses the space (compact()).
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=5000",
)


class SchemaOutdated(RuntimeError):
    """A shared database behind the code's schema: nodes never migrate it on their own."""


def database_url(target: str) -> URL:
    """`target` as a URL (sqlite:////abs/file.sqlite3, postgresql://...); a plain path names a
    SQLite file. ValueError for anything else, naming what is supported. A plain postgresql://
    means the psycopg 3 driver (SQLAlchemy's own default is psycopg2, not installed)."""
    if "://" not in target:
        return URL.create("sqlite", database=str(Path(target).expanduser().resolve()))
    try:
        url = make_url(target)
    except ArgumentError as exc:
        raise ValueError(f"jobs.database is no database URL: {target!r}") from exc
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() not in BACKENDS:
        raise ValueError(
            f"jobs.database: unsupported database {url.drivername!r} in {shown!r}; use "
            "sqlite:////path/to/file.sqlite3, postgresql://user@host/name or a file path"
        )
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # each connection would get a database of its own
        raise ValueError(f"jobs.database: SQLite needs a file, not {shown!r}")
    if url.drivername == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url


class Database:
    """What the stores share: opened by the first of them, closed by the last."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._users = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, target: str) -> Database:
        return cls(database_url(target))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def exists(self) -> bool:
        """False for a SQLite file not created yet (a database server's is always there)."""
        return not self.is_sqlite or Path(self.url.database or "").is_file()

    async def open(self, *, upgrade: bool | None = None) -> None:
        """Connect; with `upgrade` True bring the schema to the newest revision, with False take
        it as it is. None (a server, a command): a SQLite file, embedded in this one process, is
        upgraded; a PostgreSQL database that many nodes share is only checked, SchemaOutdated if
        it is behind: its upgrade is the operator's `localshang db upgrade`, run once, never a
        node's side effect while other nodes of the older code still use it."""
        check = upgrade is None and not self.is_sqlite
        upgrade = self.is_sqlite if upgrade is None else upgrade
        async with self._lock:
            self._users += 1
            if self._users > 1:
                return
            threads = 1 if self.is_sqlite else POSTGRESQL_THREADS
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="database")
            try:
                self._engine = await self._on_thread(self._connect)
                if upgrade:
                    await self.run(migrate.upgrade)
                if check:
                    await self._check_revision()
            except BaseException:
                self._users = 0
                await self._stop()
                raise

    async def close(self) -> None:
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await self._stop()

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` in one transaction: committed if it returns, rolled back if not."""

        def call() -> T:
            with self._connected().begin() as connection:
                return fn(connection)

        return await self._on_thread(call)

    async def ping(self) -> None:
        """A trivial query: raises what the driver raises when the database cannot answer."""
        await self.run(lambda db: db.execute(select(1)))

    async def clock(self) -> datetime | None:
        """The database server's time now (PostgreSQL's clock_timestamp(), not now(): that is
        the transaction's start); None for SQLite, whose clock is this host's."""
        if self.is_sqlite:
            return None
        return await self.run(lambda db: db.execute(select(func.clock_timestamp())).scalar_one())

    async def revision(self) -> str | None:
        """The schema revision the database is at (None: never migrated)."""
        return await self.run(migrate.current_revision)

    async def _check_revision(self) -> None:
        revision, head = await self.run(migrate.current_revision), migrate.head_revision()
        if revision != head:
            shown = self.url.render_as_string(hide_password=True)
            raise SchemaOutdated(
                f"the database {shown} is at schema revision {revision or 'none'}, this code "
                f"needs {head}: run `localshang db upgrade` (once, for every node), then start"
            )

    async def compact(self) -> None:
        """Leave what was deleted in no file of the database, as far as the database can: on
        PostgreSQL a plain VACUUM marks the dead rows' space free for reuse (their bytes stay in
        the pages until overwritten: no secure delete there; VACUUM FULL would lock the tables
        every node uses)."""

        def call() -> None:
            engine = self._connected()
            if self.is_sqlite:
                # secure_delete zeroed the deleted rows in the file; the WAL keeps older copies
                # of those pages until it is checkpointed and truncated. Outside a transaction:
                # SQLite refuses a checkpoint inside one.
                raw = engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
                return
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM")  # refused inside a transaction

        await self._on_thread(call)

    def _connect(self) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_size=POSTGRESQL_THREADS, pool_pre_ping=True)
        Path(self.url.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine

    async def _stop(self) -> None:
        executor, self._executor = self._executor, None
        engine, self._engine = self._engine, None
        if executor is None:
            return
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(executor, engine.dispose)
        executor.shutdown(wait=True)

    def _connected(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(f"the database {self.url.render_as_string()} is not open")
        return self._engine

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError(f"the database {self.url.render_as_string()} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)


class DatabaseStore:
    """A store on a shared Database: opening or closing the store opens or closes its share."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._run = database.run

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.database.close()

    async def ping(self) -> None:
        await self.database.ping()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN (below): the sqlite3 module's own transaction handling stays off
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # the write lock from the start: a second writer (the `localshang keys` command, the other
    # store) waits busy_timeout for it instead of failing to upgrade a read lock mid-transaction
    connection.exec_driver_sql("BEGIN IMMEDIATE")
