"""The shipped configs are valid, and the embedded default serves the real Qwen2.5-Coder-1.5B as README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.registry import BACKENDS, ModelRegistry
from pipelines.settings import DEFAULT_CONFIG, load_settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.fixtures_server import running

CONFIGS = sorted(DEFAULT_CONFIG.parent.glob("*.yaml"))


@pytest.mark.parametrize(
    "config", [c for c in CONFIGS if c.name in ("default.yaml", "gpu.yaml")], ids=str
)
def test_shipped_configs_name_known_backends_with_licences(config: Path) -> None:
    settings = load_settings(config)
    assert {s.kind for s in settings.models} >= {"chat", "asr"}
    for spec in settings.models:
        assert spec.backend in BACKENDS and spec.licence != "unknown"
        assert spec.fetch or not spec.path, f"{spec.id} has weights but no source to pull them from"
    ModelRegistry(settings.models, settings.model_dir, settings.registry)  # names are unique


@pytest.mark.real_weights
async def test_default_config_answers_with_the_real_qwen_on_llamacpp(
    qwen_default_dir: Path,
) -> None:
    settings = load_settings(DEFAULT_CONFIG, model_dir=models_cache_dir())
    settings.registry.preload = []  # the test asks for the chat model only
    async with running(create_app(settings)) as client:
        r = await client.post(
            "/v1/chat/completions",
            json={
                "model": "default",
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "max_tokens": 24,
                "temperature": 0,
            },
        )
        assert r.status_code == 200, r.text
        assert "Paris" in r.json()["choices"][0]["message"]["content"]
        models = {m["id"]: m for m in (await client.get("/v1/models")).json()["data"]}
        assert models["qwen2.5-coder-1.5b-instruct"]["licence"] == "Apache-2.0"
        assert models["qwen2.5-coder-1.5b-instruct"]["backend"] == "llama.cpp"
        assert models["qwen2.5-coder-1.5b-instruct"]["loaded"]


def test_models_pull_is_idempotent_and_lists_weights_present(qwen_small_dir: Path) -> None:
    env_dir = ["--config", str(DEFAULT_CONFIG)]
    cmd = [sys.executable, "-m", "server.cli", *env_dir]
    env = {"LOCALSHANG_MODEL_DIR": str(models_cache_dir())}
    pulled = subprocess.run(
        [*cmd, "models", "pull", "qwen2.5-coder-0.5b-instruct"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | env,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    assert str(qwen_small_dir) in pulled.stdout
    listed = subprocess.run(
        [*cmd, "models", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
        check=True,
    )
    assert any(
        line.startswith("qwen2.5-coder-0.5b-instruct") and "ready" in line
        for line in listed.stdout.splitlines()
    )
    unknown = subprocess.run(
        [*cmd, "models", "pull", "no-such-model"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
        check=False,
    )
    assert unknown.returncode == 1 and "no source" in unknown.stdout
