"""Fixtures that build the real app around given model specs and talk to it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.settings import ModelSpec, RegistrySettings, ServerSettings, Settings
from server.app import create_app

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def make_settings(tmp: Path, specs: list[ModelSpec], **server: Any) -> Settings:
    registry = server.pop("registry", None) or RegistrySettings()
    return Settings(
        model_dir=tmp / "models",
        data_dir=tmp / "data",
        models=specs,
        server=ServerSettings(**server),
        registry=registry,
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app in-process, with the app's lifespan (preload, sweeper) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as c:
            yield c


@pytest.fixture
def app_client(tmp_path: Path) -> AppClient:
    """`async with app_client([spec, ...], api_keys=[...]) as client:` builds a fresh app."""

    def build(
        specs: list[ModelSpec], **server: Any
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running(create_app(make_settings(tmp_path, specs, **server)))

    return build
