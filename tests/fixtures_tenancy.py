"""Pytest plugin for tenancy tests: apps whose keys live in the database (made by the real
`localshang keys` command), the CLI run in-process, and looks into the SQLite file and disk."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from models.spec import ModelSpec, RegistrySettings
from pipelines.platform.accounts.settings import TenantQuotas, TenantSettings
from pipelines.platform.jobs.settings import JobSettings
from pipelines.settings import ServerSettings, Settings
from server.cli import main
from tests.fixtures_jobs import build_app, serve_in_process


@dataclass
class Deployment:
    """One server's settings and config file, its keys (tenant -> key) and its client."""

    settings: Settings
    config: Path
    keys: dict[str, str] = field(default_factory=dict)
    client: httpx.AsyncClient | None = None

    def auth(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    @property
    def http(self) -> httpx.AsyncClient:
        assert self.client is not None, "the server is not running"
        return self.client

    @property
    def database(self) -> Path:
        return Path(self.settings.jobs_database())

    def job_dir(self, job_id: str) -> Path:
        return self.settings.data_dir / "jobs" / job_id

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the database file directly, as an operator (or an attacker with the disk) would."""
        db = sqlite3.connect(self.database)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    async def cli(self, *args: str) -> tuple[int, str, str]:
        """`localshang --config <this> ARGS`, in-process (the real argparse and database code)."""
        return await asyncio.to_thread(run_cli, self.config, *args)

    async def create_key(self, tenant: str, *extra: str) -> str:
        code, out, err = await self.cli("keys", "create", "--tenant", tenant, *extra)
        assert code == 0, err
        self.keys[tenant] = out.strip()
        return self.keys[tenant]

    async def wait_job(
        self,
        job_id: str,
        tenant: str,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout_s: float = 30,
    ) -> dict[str, Any]:
        done = until or (lambda job: job["state"] in ("succeeded", "failed", "cancelled"))
        async with asyncio.timeout(timeout_s):
            while True:
                response = await self.http.get(f"/v1/jobs/{job_id}", headers=self.auth(tenant))
                assert response.status_code == 200, response.text
                job: dict[str, Any] = response.json()
                if done(job):
                    return job
                await asyncio.sleep(0.05)

    async def submit(self, tenant: str, **input: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/jobs", json={"type": "slow", "input": input}, headers=self.auth(tenant)
        )
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job


def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--config", str(config), *args])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def tenancy_settings(
    tmp: Path,
    specs: list[ModelSpec] | None = None,
    *,
    config_keys: list[dict[str, Any]] | None = None,
    defaults: TenantQuotas | None = None,
    sweep_interval_s: float = 300.0,
    encryption_key: str | None = None,
) -> Settings:
    return Settings(
        model_dir=tmp / "models",
        data_dir=tmp / "data",
        models=specs or [],
        server=ServerSettings(api_keys=config_keys or []),
        registry=RegistrySettings(preload=[]),
        jobs=JobSettings(
            concurrency={"llm": 1, "test": 2},
            encryption_key=encryption_key,
        ),
        tenants=TenantSettings(
            defaults=defaults or TenantQuotas(), sweep_interval_s=sweep_interval_s
        ),
    )


def write_config(settings: Settings, path: Path) -> Path:
    """The YAML the CLI reads: the same data dir and database as the app's."""
    config: dict[str, Any] = {"data_dir": str(settings.data_dir), "models": []}
    if settings.jobs.database is not None:
        config["jobs"] = {"database": settings.jobs.database}
    path.write_text(yaml.safe_dump(config))
    return path


Deploy = Callable[..., AbstractAsyncContextManager[Deployment]]


@pytest.fixture
def deploy(tmp_path: Path) -> Deploy:
    """`async with deploy(keys=["shop-a", "shop-b"], admin=["ops"], **settings) as d:` a fresh
    server whose keys were made with `localshang keys create` before it started; on
    `database=URL` (default: the SQLite file in the data dir) after `localshang db upgrade`, as
    an operator starts nodes on a shared database."""

    @asynccontextmanager
    async def build(
        keys: tuple[str, ...] = ("shop-a", "shop-b"),
        admin: tuple[str, ...] = ("ops",),
        database: str | None = None,
        **options: Any,
    ) -> AsyncIterator[Deployment]:
        settings = tenancy_settings(tmp_path, **options)
        settings.jobs.database = database
        deployment = Deployment(settings, write_config(settings, tmp_path / "config.yaml"))
        if database is not None:
            code, _, err = await deployment.cli("db", "upgrade")
            assert code == 0, err
        for tenant in keys:
            await deployment.create_key(tenant)
        for tenant in admin:
            await deployment.create_key(tenant, "--admin")
        async with serve_in_process(build_app(settings)) as client:
            deployment.client = client
            yield deployment

    return build
