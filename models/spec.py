"""What the model table of the config says: one ModelSpec per model, and the registry's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from models.chat.tool_parsers import TOOL_PARSERS

ModelKind = Literal["chat", "asr", "tts", "embedding"]


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
