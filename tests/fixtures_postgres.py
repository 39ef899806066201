"""Pytest plugin: a throwaway PostgreSQL 15 server (Debian's binaries, started once per session on
a free loopback port, its socket and data in a temporary folder) and `database_url`, the stores'
database as a parameter: each test that takes it runs on a SQLite file and on a fresh PostgreSQL
database (marked `postgresql`: `make test-cluster` runs those alone).

PostgreSQL refuses to run as root, and CI runs as root: there the server runs as the `postgres`
user (made by the Debian package), on a folder outside pytest's root-only tmp tree.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from pipelines.platform.storage.database import Database
from tests.netguard import free_port

BINARIES = (Path("/usr/lib/postgresql/15/bin"),)
MISSING = (
    "PostgreSQL 15 is not installed (no initdb, pg_ctl): run `make system`, which installs "
    "Debian's postgresql package"
)

NewDatabase = Callable[[], str]


def _bin_dir() -> Path:
    on_path = shutil.which("initdb")
    found = [Path(on_path).parent] if on_path else []
    for folder in [*found, *BINARIES]:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    pytest.fail(MISSING, pytrace=False)


class PostgresServer:
    """initdb, pg_ctl start and stop, as `postgres` when this process is root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="localshang-postgresql-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)

    def _command(self, name: str, *args: str) -> None:
        command = [str(self.bin_dir / name), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            pytest.fail(f"{name} failed: {done.stdout}{done.stderr}{tail}", pytrace=False)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._command(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
            "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        # durability off: a test server that loses its data on a crash loses nothing of value
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._command(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def throwaway_postgresql() -> Iterator[PostgresServer]:
    """A started server, stopped and its folder deleted on exit (the tests' session server, and
    scripts/bench_cluster.py's)."""
    server = PostgresServer(_bin_dir())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    with throwaway_postgresql() as server:
        yield server


@pytest.fixture
def new_postgresql_database(postgresql_server: PostgresServer) -> NewDatabase:
    """`new_postgresql_database()`: the URL of a fresh database on the session's server."""
    return postgresql_server.new_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The stores' database, once per kind: a SQLite file's URL in tmp_path, or a fresh
    PostgreSQL database (the server started on first use)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'jobs.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgresql_server")
    return server.new_database()


async def upgrade_database(url: str) -> None:
    """`localshang db upgrade` on `url`, as the operator runs it before starting nodes."""
    database = Database.from_url(url)
    await database.open(upgrade=True)
    await database.close()
