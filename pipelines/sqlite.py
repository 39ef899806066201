"""One SQLite connection on a thread of its own: every call is one transaction, off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SerialSQLite:
    """The plumbing the job and account stores share (one server process per database file)."""

    def __init__(self, path: Path, schema: str, name: str, user_version: int | None = None) -> None:
        self.path = path
        self._schema = schema
        self._name = name
        self._user_version = user_version
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode loses nothing when the process is killed; only an OS crash
            # may drop the last transactions, never corrupt the file.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            # deleted rows (jobs, glossaries, keys) hold merchant data: zero their pages
            db.execute("PRAGMA secure_delete=ON")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(self._schema)
            if self._user_version is not None:
                db.execute(f"PRAGMA user_version={int(self._user_version)}")
            self._db = db

        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"{self._name}-sqlite"
        )
        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(db)` in one IMMEDIATE transaction: committed if it returns, rolled back if not."""

        def call() -> T:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                value = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return value

        return await self._on_thread(call)

    async def checkpoint(self) -> None:
        """Fold the WAL into the database file and truncate it (old page copies are gone)."""
        await self._on_thread(lambda: self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(executor, disconnect)
        executor.shutdown(wait=True)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"the {self._name} store is closed")
        return self._db

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError(f"the {self._name} store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
