"""Pytest plugin: the tiny random-weight chat model, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.spec import ModelSpec
from scripts.tiny_chat import build_tiny_chat_model


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny Qwen2 chat model (safetensors + ChatML tokenizer), built offline."""
    return build_tiny_chat_model(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.fixture(scope="session")
def tiny_chat_spec(tiny_chat_dir: Path) -> ModelSpec:
    """Model-table entry for the tiny chat model on the transformers backend."""
    return ModelSpec(
        id="tiny-chat",
        kind="chat",
        backend="transformers",
        path=str(tiny_chat_dir),
        memory_gb=0.1,
        licence="Apache-2.0",
        options={"dtype": "float32", "device": "cpu", "max_batch_size": 8},
    )
