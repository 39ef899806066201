"""The model registry loads once under concurrency, keeps to its memory budget, unloads idle models."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from models.registry import ModelLoadError, ModelNotFound, ModelRegistry
from models.spec import ModelSpec, RegistrySettings


def _registry(specs: list[ModelSpec], tmp_path: Path, **settings: float) -> ModelRegistry:
    return ModelRegistry(specs, tmp_path, RegistrySettings(**settings))


async def test_concurrent_first_requests_load_the_model_once(
    tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    registry = _registry([tiny_chat_spec], tmp_path)

    async def borrow() -> object:
        async with registry.use("tiny-chat") as backend:
            return backend

    backends = await asyncio.gather(*(borrow() for _ in range(5)))
    assert len({id(b) for b in backends}) == 1
    assert registry.is_loaded("tiny-chat")
    await registry.close()
    assert not registry.is_loaded("tiny-chat")


async def test_idle_models_are_unloaded_after_the_ttl_but_not_while_in_use(
    tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    registry = _registry([tiny_chat_spec], tmp_path, idle_ttl_s=60)
    async with registry.use("tiny-chat"):
        assert await registry.unload_idle(now=time.monotonic() + 3600) == []
    assert await registry.unload_idle(now=time.monotonic() + 30) == []
    assert await registry.unload_idle(now=time.monotonic() + 120) == ["tiny-chat"]
    assert not registry.is_loaded("tiny-chat")


async def test_memory_budget_evicts_idle_models_and_refuses_when_all_are_busy(
    tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    first = tiny_chat_spec.model_copy(update={"id": "a", "memory_gb": 3})
    second = tiny_chat_spec.model_copy(update={"id": "b", "memory_gb": 3})
    registry = _registry([first, second], tmp_path, memory_budget_gb=4)
    async with registry.use("a"):
        with pytest.raises(ModelLoadError, match="budget"):
            async with registry.use("b"):
                pass
    async with registry.use("b"):  # "a" is idle now: evicted to make room
        assert not registry.is_loaded("a") and registry.is_loaded("b")
    await registry.close()


async def test_unknown_names_and_wrong_kinds_are_not_found(
    tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    registry = _registry([tiny_chat_spec], tmp_path)
    with pytest.raises(ModelNotFound, match="tiny-chat"):
        registry.resolve("gpt-4")
    with pytest.raises(ModelNotFound):
        registry.resolve("tiny-chat", kind="asr")
    with pytest.raises(ValueError, match="used twice"):
        _registry([tiny_chat_spec, tiny_chat_spec], tmp_path)


async def test_a_backend_that_is_not_of_its_models_kind_is_refused_before_loading(
    tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    misfiled = tiny_chat_spec.model_copy(update={"kind": "asr"})
    registry = _registry([misfiled], tmp_path)
    with pytest.raises(ModelLoadError, match="not a TranscriptionBackend"):
        async with registry.use("tiny-chat", kind="asr"):
            pass
    assert not registry.is_loaded("tiny-chat")
