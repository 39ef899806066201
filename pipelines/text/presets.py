"""Copywriting presets per sales channel, and tones (configs/presets.yaml)."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

PRESETS_FILE = Path(__file__).resolve().parents[2] / "configs" / "presets.yaml"


class ChannelPreset(BaseModel):
    label: str
    description: str
    tone: str
    title_max_chars: int = Field(ge=20, le=200)
    selling_points: int = Field(ge=3, le=8)
    description_words: int = Field(ge=20, le=600)
    script_seconds: int = Field(ge=5, le=120)
    guidance: str = ""


class PresetBook(BaseModel):
    presets: dict[str, ChannelPreset]
    tones: dict[str, str]

    def preset(self, name: str) -> ChannelPreset:
        if name not in self.presets:
            raise ValueError(f"Unknown preset '{name}'. Available: {', '.join(self.presets)}")
        return self.presets[name]

    def tone(self, name: str) -> str:
        """A named tone's description; any other text is taken as the tone itself."""
        return self.tones.get(name, name)


@functools.cache
def load_presets(path: Path = PRESETS_FILE) -> PresetBook:
    return PresetBook.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
