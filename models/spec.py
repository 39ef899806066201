"""What the model table of the config says: one ModelSpec per model, and the registry's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from models.chat.tool_parsers import TOOL_PARSERS

ModelKind = Literal["chat", "asr", "tts", "embedding"]
# vLLM's own ways to spread one model over GPUs and machines: passed through to its engine
# (models.chat.vllm_backend) and shown in /v1/models. Executor backends as vLLM's
# config.parallel.DistributedExecutorBackend names them.
PARALLELISM_OPTIONS = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "distributed_executor_backend",
)
EXECUTOR_BACKENDS = ("mp", "ray", "uni", "external_launcher")
# How a reasoning model's output comes (`options.reasoning_parser`, vLLM's names); the server and
# the workflows split it with models.chat.reasoning.
REASONING_PARSERS = ("deepseek_r1",)
# Tokens a workflow lets a reasoning model think before the answer it budgets for; an R1 distill
# reasons a few hundred tokens over a product text (`options.reasoning_budget_tokens`).
DEFAULT_REASONING_BUDGET_TOKENS = 1024


class ModelSpec(BaseModel):
    """One entry of the model table: what to load, with which backend, from where."""

    id: str
    aliases: list[str] = Field(default_factory=list)
    kind: ModelKind
    backend: str
    path: str = Field("", description="folder (or file) relative to model_dir, or absolute")
    options: dict[str, Any] = Field(default_factory=dict)
    licence: str = "unknown"
    memory_gb: float = Field(1.0, ge=0, description="resident size counted against the budget")
    fetch: str | None = Field(None, description="name of the bundle scripts/fetch_models.py knows")

    @model_validator(mode="after")
    def _known_tool_parser(self) -> ModelSpec:
        """A typo in `options.tool_parser` fails at start-up, not as a 500 on the first tools call."""
        parser = self.options.get("tool_parser")
        if parser is not None and parser not in TOOL_PARSERS:
            raise ValueError(
                f"model {self.id}: unknown tool_parser '{parser}' (known: {', '.join(TOOL_PARSERS)})"
            )
        return self

    @model_validator(mode="after")
    def _known_reasoning(self) -> ModelSpec:
        """A typo in the reasoning options fails at start-up, not as answers full of thinking."""
        parser = self.options.get("reasoning_parser")
        if parser is not None and parser not in REASONING_PARSERS:
            raise ValueError(
                f"model {self.id}: unknown reasoning_parser '{parser}' "
                f"(known: {', '.join(REASONING_PARSERS)})"
            )
        budget = self.options.get("reasoning_budget_tokens")
        if budget is not None:
            if parser is None:
                raise ValueError(
                    f"model {self.id}: reasoning_budget_tokens is for a reasoning model; "
                    "set reasoning_parser too"
                )
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                raise ValueError(
                    f"model {self.id}: reasoning_budget_tokens must be a count >= 1, not {budget!r}"
                )
        return self

    @property
    def reasoning_budget_tokens(self) -> int | None:
        """None for a model that answers at once; for a reasoning model, the tokens a workflow
        lets it think on top of its answer's budget."""
        if self.options.get("reasoning_parser") is None:
            return None
        return int(self.options.get("reasoning_budget_tokens", DEFAULT_REASONING_BUDGET_TOKENS))

    @model_validator(mode="after")
    def _valid_parallelism(self) -> ModelSpec:
        """A bad GPU count or executor fails at start-up, not minutes into an engine's load."""
        for name, value in self.parallelism.items():
            if name != "distributed_executor_backend":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"model {self.id}: {name} must be a count >= 1, not {value!r}")
            elif value not in EXECUTOR_BACKENDS:
                raise ValueError(
                    f"model {self.id}: distributed_executor_backend '{value}' is none of "
                    f"{', '.join(EXECUTOR_BACKENDS)}"
                )
        return self

    @property
    def parallelism(self) -> dict[str, Any]:
        """The PARALLELISM_OPTIONS set in `options` (or in `options.engine_args`, which wins, as
        it does in the engine's arguments); {} when the model runs on one device."""
        extra = self.options.get("engine_args")
        sources = (self.options, extra if isinstance(extra, dict) else {})
        return {k: v for source in sources for k, v in source.items() if k in PARALLELISM_OPTIONS}

    def resolve_path(self, model_dir: Path) -> Path:
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else model_dir / path


class RegistrySettings(BaseModel):
    memory_budget_gb: float = Field(16.0, gt=0)
    idle_ttl_s: float = Field(900.0, gt=0, description="unload a model unused this long")
    preload: list[str] = Field(default_factory=list)
    tts_by_language: dict[str, str] = Field(
        default_factory=dict,
        description="language -> TTS model that speaks it where a request names none (dubbing "
        "jobs; /v1/audio/speech with tts-1 & co.); other languages: the first TTS model",
    )
