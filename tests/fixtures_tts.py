"""Pytest plugin: text-to-speech model specs (espeak-ng always; the real Piper voice when it can be had)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import ModelSpec


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
def piper_spec(piper_voice_dir: Path) -> ModelSpec:
    pytest.importorskip(
        "piper", reason="piper-tts is not installed (the `piper` extra)", exc_type=ImportError
    )
    return ModelSpec(
        id="piper-joe",
        kind="tts",
        backend="piper",
        path=str(piper_voice_dir),
        licence="piper-tts GPL-3.0-or-later; voice trained on a CC0 dataset (see MODEL_CARD)",
        memory_gb=0.2,
        options={"threads": 1},
    )
