"""`localshang doctor` through the real CLI, in-process: one line a check, ok or FAIL with what to
do, exit 1 if anything failed; on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.platform.storage import migrate
from pipelines.platform.storage.database import Database
from tests.fixtures_tenancy import run_cli
from tests.netguard import free_port

CHAT = {"id": "tiny-chat", "kind": "chat", "backend": "llama.cpp", "path": "tiny-chat"}
UPGRADE = "run `localshang db upgrade`"


def node_config(tmp_path: Path, database_url: str, **server: Any) -> Path:
    config = {
        "data_dir": str(tmp_path / "data"),
        "model_dir": str(tmp_path / "models"),
        "models": [CHAT],
        "jobs": {"database": database_url},
        "server": server,
    }
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def doctor(config: Path) -> tuple[int, dict[str, str]]:
    """The exit code and each check's line, by the check's name."""
    code, out, err = run_cli(config, "doctor")
    lines = out.strip().splitlines()
    by_name = {line[5:23].strip(): line for line in lines}
    assert len(by_name) == len(lines) == 10, out + err
    return code, by_name


def migrate_to(database_url: str, revision: str) -> None:
    """The schema as an older release left it."""

    async def run() -> None:
        database = Database.from_url(database_url)
        await database.open(upgrade=False)
        try:
            await database.run(lambda connection: migrate.upgrade(connection, revision))
        finally:
            await database.close()

    asyncio.run(run())


def test_doctor_passes_a_ready_node(tmp_path: Path, database_url: str, redis_url: str) -> None:
    config = node_config(tmp_path, database_url, rate_limit_storage=redis_url)
    (tmp_path / "models" / "tiny-chat").mkdir(parents=True)
    assert run_cli(config, "db", "upgrade")[0] == 0

    code, checks = doctor(config)

    assert code == 0, checks
    assert [name for name, line in checks.items() if not line.startswith("ok ")] == (
        ["clock skew"] if database_url.startswith("sqlite") else []
    )
    assert checks["migrations"].endswith(f"at {migrate.head_revision()} (head)")
    assert checks["ffmpeg"].startswith("ok   ffmpeg             ffmpeg version")
    # the wheel's CPU code for this very CPU (x64, haswell, skylakex or icelake)
    assert re.search(r"the (x64|haswell|skylakex|icelake) variant", checks["llama.cpp CPU"])
    assert "answers" in checks["rate limit storage"]
    if database_url.startswith("sqlite"):
        assert checks["clock skew"].startswith("skip") and "SQLite" in checks["clock skew"]
    else:
        assert "s against the database server" in checks["clock skew"]
    assert not list((tmp_path / "data").glob(".doctor-*"))  # its probe file is gone


def test_doctor_fails_an_older_schema_and_missing_weights_until_both_are_fixed(
    tmp_path: Path, database_url: str
) -> None:
    config = node_config(tmp_path, database_url)
    migrate_to(database_url, "0001")

    code, checks = doctor(config)

    assert code == 1
    assert checks["database"].startswith("ok ")
    migrations = checks["migrations"]
    assert migrations.startswith("FAIL") and UPGRADE in migrations, migrations
    assert f"at revision 0001, this code needs {migrate.head_revision()}" in migrations
    models = checks["models"]
    assert models.startswith("FAIL") and "tiny-chat" in models and "models pull" in models
    assert checks["rate limit storage"].startswith("skip")

    assert run_cli(config, "db", "upgrade")[0] == 0
    (tmp_path / "models" / "tiny-chat").mkdir(parents=True)
    assert doctor(config)[0] == 0


def test_doctor_fails_when_neither_database_nor_redis_answers(tmp_path: Path) -> None:
    nothing = free_port()
    config = node_config(
        tmp_path,
        f"postgresql://localshang@127.0.0.1:{nothing}/localshang",
        rate_limit_storage=f"redis://127.0.0.1:{nothing}/0",
    )
    (tmp_path / "models" / "tiny-chat").mkdir(parents=True)

    code, checks = doctor(config)

    assert code == 1
    database = checks["database"]
    assert database.startswith("FAIL") and "start PostgreSQL" in database, database
    assert "connect_timeout" not in database  # the doctor's own timeout, not the operator's URL
    assert checks["migrations"].startswith("skip") and checks["clock skew"].startswith("skip")
    assert checks["rate limit storage"].startswith("FAIL")
    assert "start redis-server" in checks["rate limit storage"]
    assert checks["data dir"].startswith("ok ")


def test_doctor_fails_a_data_dir_it_cannot_write(tmp_path: Path) -> None:
    config = node_config(tmp_path, f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    (tmp_path / "data").write_text("a file where the folder should be")

    code, checks = doctor(config)

    assert code == 1
    assert checks["data dir"].startswith("FAIL") and "writable" in checks["data dir"]
    # a SQLite file not created yet is no failure: the server creates it at its first start
    assert checks["database"].startswith("ok ") and "not created yet" in checks["database"]


@pytest.mark.parametrize("program", ["ffmpeg", "ffprobe", "espeak-ng"])
def test_doctor_fails_a_program_missing_from_path(
    tmp_path: Path, program: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = node_config(tmp_path, f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    code, checks = doctor(config)

    assert code == 1
    assert checks[program].startswith("FAIL") and "apt-get install" in checks[program]
