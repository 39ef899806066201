"""`localshang doctor`: whether this node can serve (its database and schema, model weights, the
programs it runs, its data dir, a shared Redis, its clock), one line a check with what to do
about a failure; exit 1 if any failed. Run it on each node before adding it to a fleet."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Literal

from models.registry import ModelRegistry
from pipelines.platform.storage.database import Database
from pipelines.platform.storage.migrate import head_revision
from pipelines.settings import Settings
from server.probes import PROBE_TIMEOUT_S, is_redis, ping_redis, probe
from server.routers.health import missing_weights

Status = Literal["ok", "WARN", "FAIL", "skip"]
# Rate limit windows and job timestamps carry each node's clock (server.limits): nodes a few
# seconds apart count a minute differently. NTP keeps them within milliseconds.
MAX_CLOCK_SKEW_S = 2.0
UPGRADE_HINT = "run `localshang db upgrade` (once, for every node)"
# program -> (the argument that prints its version, the Debian package that installs it)
PROGRAMS = {
    "ffmpeg": ("-version", "ffmpeg"),
    "ffprobe": ("-version", "ffmpeg"),
    "espeak-ng": ("--version", "espeak-ng"),
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""

    def line(self) -> str:
        hint = f" -> {self.hint}" if self.hint and self.status != "ok" else ""
        return f"{self.status:4} {self.name:18} {self.detail}{hint}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor` to the `localshang` command."""
    doctor = subparsers.add_parser("doctor", help="check that this node can serve (exit 1 if not)")
    doctor.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    checks = [
        *asyncio.run(_database_checks(settings)),
        _models(settings),
        _llama_cpu(settings),
        *(_program(name) for name in PROGRAMS),
        _data_dir(settings),
        asyncio.run(_redis(settings)),
    ]
    for check in checks:
        print(check.line())
    return 1 if any(check.status == "FAIL" for check in checks) else 0


async def _database_checks(settings: Settings) -> list[Check]:
    """database reachable, migrations current, clock skew: one connection for the three."""
    try:
        database = Database.from_url(settings.jobs_database())
    except ValueError as exc:
        return [Check("database", "FAIL", str(exc), "fix jobs.database in the config")]
    shown = database.url.render_as_string(hide_password=True)
    if not database.is_sqlite and "connect_timeout" not in database.url.query:
        # libpq waits for a dead host as long as TCP does (minutes): give up with the probe
        timeout = str(int(PROBE_TIMEOUT_S))
        database = Database(database.url.update_query_dict({"connect_timeout": timeout}))
    if not database.exists():
        return [
            Check("database", "ok", f"{shown} not created yet: the server creates it at start"),
            Check(
                "migrations", "ok", f"a new SQLite file starts at the newest ({head_revision()})"
            ),
            _clock_skipped(),
        ]
    await database.open(upgrade=False)  # no connection yet: the ping makes the first
    try:
        reached = await probe(database.ping())
        if not reached.ok:
            unreached = "the database does not answer"
            return [
                Check("database", "FAIL", f"{shown}: {reached.error}", _database_hint(database)),
                Check("migrations", "skip", unreached),
                Check("clock skew", "skip", unreached),
            ]
        return [
            Check("database", "ok", f"{shown} answers"),
            _migrations(database, await database.revision()),
            await _clock(database),
        ]
    finally:
        await database.close()


def _database_hint(database: Database) -> str:
    if database.is_sqlite:
        return "the data dir (or jobs.database's folder) must be readable and writable"
    return "start PostgreSQL, check jobs.database (host, port, user, password, database name)"


def _migrations(database: Database, revision: str | None) -> Check:
    head = head_revision()
    if revision == head:
        return Check("migrations", "ok", f"at {revision} (head)")
    hint = UPGRADE_HINT + (
        ", or start the server: it upgrades its SQLite file" * database.is_sqlite
    )
    detail = f"the database is at revision {revision or 'none'}, this code needs {head}"
    return Check("migrations", "FAIL", detail, hint)


async def _clock(database: Database) -> Check:
    before = time.time()
    server_time = await database.clock()
    after = time.time()
    if server_time is None:
        return _clock_skipped()
    skew = server_time.timestamp() - (before + after) / 2  # the answer left mid-round-trip
    detail = f"{skew:+.3f} s against the database server (+/- {(after - before) / 2:.3f} s)"
    if abs(skew) > MAX_CLOCK_SKEW_S:
        hint = f"keep every node's clock in step (NTP: chrony or systemd-timesyncd), within {MAX_CLOCK_SKEW_S:g} s"
        return Check("clock skew", "WARN", detail, hint)
    return Check("clock skew", "ok", detail)


def _clock_skipped() -> Check:
    return Check("clock skew", "skip", "SQLite: one node, the database's clock is this host's")


def _models(settings: Settings) -> Check:
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    missing = missing_weights(registry)
    if missing:
        detail = f"no weights in {settings.model_dir} for {', '.join(missing)}"
        return Check("models", "FAIL", detail, "`localshang models pull` (where a network is)")
    return Check("models", "ok", f"the weights of every model present ({len(registry.specs())})")


def _llama_cpu(settings: Settings) -> Check:
    """Which of llama.cpp's CPU code variants this CPU runs (scripts/build_llama_cpp.py)."""
    if not any(spec.backend == "llama.cpp" for spec in settings.models):
        return Check("llama.cpp CPU", "skip", "no model runs on llama.cpp")
    # imported here: it loads llama.cpp's libraries, which no other check needs
    from models.chat.llamacpp_cpu import load_cpu_variant

    rebuild = "`make install` (scripts/build_llama_cpp.py builds a wheel for every x86-64 CPU)"
    try:
        variant = load_cpu_variant()
    except RuntimeError as exc:
        return Check("llama.cpp CPU", "FAIL", str(exc), rebuild)
    if variant is None:
        detail = (
            "a wheel with one CPU code built in: it runs only on CPUs like the one that built it"
        )
        return Check("llama.cpp CPU", "WARN", detail, rebuild)
    return Check("llama.cpp CPU", "ok", f"the {variant} variant of llama.cpp's CPU code")


def _program(name: str) -> Check:
    flag, package = PROGRAMS[name]
    path = shutil.which(name)
    install = f"`apt-get install {package}`"
    if path is None:
        return Check(name, "FAIL", "not found on PATH", install)
    try:
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, "FAIL", f"{path} does not run: {exc}", install)
    output = (done.stdout or done.stderr).strip()
    # ffmpeg's first line goes on with its copyright, espeak-ng's with its data folder
    version = output.splitlines()[0].split(" Copyright")[0].split("  ")[0] if output else ""
    if done.returncode != 0:
        return Check(name, "FAIL", f"{path} exited {done.returncode}: {version}", install)
    return Check(name, "ok", version)


def _data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)  # as the server does at start
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-") as probe_file:
            probe_file.write(b"localshang doctor")
            probe_file.flush()
    except OSError as exc:
        hint = "make it writable by the server's user (a shared mount: the same path on every node)"
        return Check("data dir", "FAIL", f"{folder}: {exc}", hint)
    return Check("data dir", "ok", f"{folder} writable")


async def _redis(settings: Settings) -> Check:
    storage = settings.server.rate_limit_storage
    if not is_redis(storage):
        return Check("rate limit storage", "skip", f"{storage}: each node counts its own requests")
    reached = await probe(ping_redis(storage))
    if not reached.ok:
        hint = "start redis-server or fix server.rate_limit_storage (meanwhile nothing is limited)"
        return Check("rate limit storage", "FAIL", f"{storage}: {reached.error}", hint)
    return Check("rate limit storage", "ok", f"{storage} answers")
