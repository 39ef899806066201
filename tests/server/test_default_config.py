"""The shipped configs are valid, and the embedded default serves the real Qwen2.5-Coder-1.5B as README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.chat.vllm_backend import engine_args
from models.registry import BACKENDS, ModelRegistry
from models.spec import ModelSpec
from pipelines.settings import DEFAULT_CONFIG, Settings, load_settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.fixtures_server import running

CONFIGS_DIR = DEFAULT_CONFIG.parent
CONFIGS = sorted(CONFIGS_DIR.glob("*.yaml"))
TINY = ModelSpec(id="espeak", kind="tts", backend="espeak-ng", licence="GPL-3.0-or-later")


@pytest.mark.parametrize(
    "config",
    [c for c in CONFIGS if c.name in ("default.yaml", "gpu.yaml", "cluster.yaml")],
    ids=str,
)
def test_shipped_configs_name_known_backends_with_licences(config: Path) -> None:
    settings = load_settings(config)
    assert {s.kind for s in settings.models} >= {"chat", "asr"}
    for spec in settings.models:
        assert spec.backend in BACKENDS and spec.licence != "unknown"
        assert spec.fetch or not spec.path, f"{spec.id} has weights but no source to pull them from"
    ModelRegistry(settings.models, settings.model_dir, settings.registry)  # names are unique


def test_cluster_config_shares_database_rates_and_artifacts_with_the_default_models() -> None:
    cluster, default = load_settings(CONFIGS_DIR / "cluster.yaml"), load_settings(DEFAULT_CONFIG)
    assert cluster.jobs_database().startswith("postgresql://")
    assert cluster.server.rate_limit_storage.startswith("redis://")
    assert cluster.server.host == "0.0.0.0" and cluster.data_dir.is_absolute()
    assert (cluster.models, cluster.registry) == (default.models, default.registry)


async def test_vllm_parallelism_options_are_validated_and_shown_in_models(tmp_path: Path) -> None:
    options = {"tensor_parallel_size": 2, "pipeline_parallel_size": 2}
    spec = ModelSpec(
        id="distill-32b",
        kind="chat",
        backend="vllm",
        path="DeepSeek-R1-Distill-Qwen-32B",
        options={**options, "engine_args": {"distributed_executor_backend": "ray"}},
    )
    assert (
        engine_args(spec, tmp_path, on_cpu=False).items()
        >= {**options, "distributed_executor_backend": "ray"}.items()
    )
    for bad in (
        {"tensor_parallel_size": 0},
        {"engine_args": {"distributed_executor_backend": "mpi"}},
    ):
        with pytest.raises(ValidationError, match="distill-32b"):
            spec.model_validate({**spec.model_dump(), "options": bad})

    # no GPU here: the vllm backend is never loaded, the card comes from the spec
    settings = Settings(model_dir=tmp_path, data_dir=tmp_path / "data", models=[spec, TINY])
    async with running(create_app(settings)) as client:
        tiny = (await client.get("/v1/models")).json()["data"][1]
        card = (await client.get("/v1/models/distill-32b")).json()
    assert card["parallelism"] == {**options, "distributed_executor_backend": "ray"}
    assert card["loaded"] is False and tiny["parallelism"] is None


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
