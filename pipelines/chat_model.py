"""Which chat model a text pipeline uses: the one named, or the first configured."""

from __future__ import annotations

from typing import Any

from models.registry import ModelNotFound
from pipelines.errors import InvalidInput


def chat_model_id(registry: Any, name: str | None, param: str = "model") -> str:
    """The model id for `name` (None: the default chat model); InvalidInput if unknown."""
    try:
        spec = registry.resolve(name, kind="chat") if name else registry.default("chat")
    except ModelNotFound as exc:
        if name is None:
            raise InvalidInput("No chat model is configured", param=param) from exc
        raise InvalidInput(str(exc), param=param, code="model_not_found") from exc
    model_id: str = spec.id
    return model_id
