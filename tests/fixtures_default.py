"""Pytest plugin: the embedded default config (configs/default.yaml) served in process, on the
real weights the tests fetched, as `make serve` runs it; one app per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from pipelines.settings import DEFAULT_CONFIG, load_settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.fixtures_server import running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def default_app(
    qwen_default_dir: Path,
    e5_dir: Path,
    whisper_base_dir: Path,
    kokoro_spec: Any,
    piper_voice_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the default app; models load on first use (no preload)."""
    settings = load_settings(
        DEFAULT_CONFIG,
        model_dir=models_cache_dir(),
        data_dir=tmp_path_factory.mktemp("default-data"),
    )
    settings.registry.preload = []
    async with running(create_app(settings)) as client:
        client.timeout = httpx.Timeout(900)
        yield client
