"""Fixtures that build the real app around given model specs and talk to it over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.spec import ModelSpec, RegistrySettings
from pipelines.settings import ServerSettings, Settings
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
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=120
        ) as c:
            yield c


@pytest.fixture
def app_client(tmp_path: Path) -> AppClient:
    """`async with app_client([spec, ...], api_keys=[...]) as client:` builds a fresh app."""

    def build(
        specs: list[ModelSpec], **server: Any
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running(create_app(make_settings(tmp_path, specs, **server)))

    return build


UNCHECKED: Any = object()


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, *, param: Any = UNCHECKED
) -> dict[str, Any]:
    """The OpenAI-shaped error of `response`: its status, the four fields and a message; its
    `code` and `param` too where given (param=None: the error names no parameter)."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if param is not UNCHECKED:
        assert error["param"] == param, error
    return error


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll `condition` until it holds; fail saying `what` did not happen within `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None
