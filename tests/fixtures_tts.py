"""Pytest plugin: text-to-speech model specs (espeak-ng always; the real Piper voice when it can be had)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.settings import ModelSpec

TEST_MODELS_ENV = "LOCALSHANG_TEST_MODELS"


def models_cache_dir() -> Path:
    return Path(os.environ.get(TEST_MODELS_ENV, "~/.cache/localshang/test-models")).expanduser()


@pytest.fixture(scope="session")
def espeak_spec() -> ModelSpec:
    """espeak-ng with the language map a deployment would configure (zh -> Mandarin)."""
    return ModelSpec(
        id="espeak",
        aliases=["tts-1"],
        kind="tts",
        backend="espeak-ng",
        licence="GPL-3.0-or-later (espeak-ng, run as a program)",
        memory_gb=0.01,
        options={"languages": {"en": "en-us", "zh": "cmn"}},
    )


@pytest.fixture(scope="session")
def piper_voice_dir() -> Path:
    """The real `en_US-joe-medium` Piper voice, fetched once into the test model cache."""
    pytest.importorskip(
        "piper", reason="piper-tts is not installed (the `piper` extra)", exc_type=ImportError
    )
    from models.fetch import FetchError
    from scripts.fetch_models import fetch

    try:
        return fetch("piper-joe", models_cache_dir() / "piper-joe")
    except FetchError as exc:
        pytest.skip(f"the piper-joe voice cannot be fetched here: {exc}")


@pytest.fixture(scope="session")
def piper_spec(piper_voice_dir: Path) -> ModelSpec:
    return ModelSpec(
        id="piper-joe",
        kind="tts",
        backend="piper",
        path=str(piper_voice_dir),
        licence="piper-tts GPL-3.0-or-later; voice trained on a CC0 dataset (see MODEL_CARD)",
        memory_gb=0.2,
        options={"threads": 1},
    )
