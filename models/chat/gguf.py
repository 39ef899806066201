"""Where a llama.cpp model's files are: its GGUF, and the generation_config.json beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def gguf_file(path: Path, name: str | None) -> Path:
    """The model's GGUF: `path` itself, `name` in it, or the one .gguf file it holds."""
    if path.is_file():
        return path
    if name:
        return path / name
    found = sorted(path.glob("*.gguf"))
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} .gguf files; name one with gguf_file")
    return found[0]


def read_generation_config(gguf: Path) -> dict[str, Any]:
    """The generation_config.json beside the GGUF, if any (GGUF files carry none of their own)."""
    path = gguf.parent / "generation_config.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}
