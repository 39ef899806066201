"""Piper backend (piper-tts, ONNX): neural voices stored as `NAME.onnx` + `NAME.onnx.json` files.

The model path is a folder of voices (or one `.onnx` file); each file is a voice whose id is
its name, and a multi-speaker file adds `NAME:SPEAKER` voices. Options (all optional):
    languages: {en: en_US-joe-medium}   language -> voice id, over the voices' own languages
    default_voice: en_US-joe-medium     voice for OpenAI stock names (alloy, ...)
    threads: 0                          ONNX Runtime intra-op threads (0: its default)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.spec import ModelSpec
from models.tts.base import (
    SpeechAudio,
    SpeechBackend,
    Voice,
    language_map,
    language_tag,
    pick_default_voice,
)


@dataclass(frozen=True)
class _PiperVoice:
    voice: Voice
    engine: Any  # piper.PiperVoice
    speaker_id: int | None


class PiperTTS(SpeechBackend):
    def __init__(
        self,
        voices: list[_PiperVoice],
        languages: dict[str, str] | None = None,
        default: str | None = None,
    ) -> None:
        self._voices = {v.voice.id: v for v in voices}
        automatic: dict[str, str] = {}
        for entry in voices:
            for lang in entry.voice.languages:
                automatic.setdefault(lang, entry.voice.id)
        self.language_voices = language_map(self._voices, automatic, languages)
        self.default_voice = pick_default_voice(self._voices, self.language_voices, default)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> PiperTTS:
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:
            raise RuntimeError(
                "piper-tts is not installed: pip install 'localshang[piper]'"
            ) from exc
        options: dict[str, Any] = spec.options
        files = [path] if path.suffix == ".onnx" else sorted(path.glob("*.onnx"))
        if not files:
            raise RuntimeError(f"no Piper voice (.onnx + .onnx.json) in {path}")
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = int(options.get("threads", 0))
        voices: list[_PiperVoice] = []
        for onnx_file in files:
            config_file = onnx_file.with_name(onnx_file.name + ".json")
            if not config_file.is_file():
                raise RuntimeError(f"Piper voice {onnx_file} has no {config_file.name}")
            config = json.loads(config_file.read_text(encoding="utf-8"))
            engine = PiperVoice(
                session=onnxruntime.InferenceSession(
                    str(onnx_file), sess_options=session_options, providers=["CPUExecutionProvider"]
                ),
                config=PiperConfig.from_dict(config),
                download_dir=onnx_file.parent,  # never the working directory
            )
            voices.extend(_voices_of(onnx_file.name.removesuffix(".onnx"), config, engine))
        return cls(voices, options.get("languages"), options.get("default_voice"))

    def voices(self) -> list[Voice]:
        return [v.voice for v in self._voices.values()]

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        entry = self._voices[self.resolve_voice(voice)]
        rate = entry.engine.config.sample_rate
        return SpeechAudio.concatenate(self._chunks(entry, text, speed), rate)

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        # Piper already speaks one sentence per chunk.
        yield from self._chunks(self._voices[self.resolve_voice(voice)], text, speed)

    def _chunks(self, entry: _PiperVoice, text: str, speed: float) -> Iterator[SpeechAudio]:
        from piper.config import SynthesisConfig

        engine = entry.engine
        config = SynthesisConfig(
            speaker_id=entry.speaker_id, length_scale=engine.config.length_scale / speed
        )
        for chunk in engine.synthesize(text, syn_config=config):
            yield SpeechAudio(chunk.audio_float_array.astype(np.float32), chunk.sample_rate)


def _voices_of(name: str, config: dict[str, Any], engine: Any) -> list[_PiperVoice]:
    language = config.get("language", {})
    languages = [language_tag(language["code"])] if language.get("code") else []
    languages += [language_tag(config.get("espeak", {}).get("voice", ""))]
    if language.get("family"):
        languages.append(language_tag(language["family"]))
    tags = tuple(dict.fromkeys(tag for tag in languages if tag))
    speakers: dict[str, int] = config.get("speaker_id_map") or {}
    default_speaker = 0 if speakers else None
    voices = [_PiperVoice(Voice(id=name, languages=tags, name=name), engine, default_speaker)]
    voices += [
        _PiperVoice(Voice(id=f"{name}:{speaker}", languages=tags, name=speaker), engine, sid)
        for speaker, sid in speakers.items()
    ]
    return voices
