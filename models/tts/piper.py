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
from pathlib import Path
from typing import Any

import numpy as np

from models.spec import ModelSpec
from models.tts.base import (
    SpeechAudio,
    SpeechBackend,
    Voice,
    VoiceCatalogue,
    declared_catalogue,
    language_tag,
    options_catalogue,
)


class PiperTTS(SpeechBackend):
    def __init__(
        self, catalogue: VoiceCatalogue, engines: dict[str, tuple[Any, int | None]]
    ) -> None:
        self.catalogue = catalogue
        self._engines = engines  # voice id -> (piper.PiperVoice, speaker id)

    @classmethod
    def read_catalogue(cls, spec: ModelSpec, path: Path) -> VoiceCatalogue:
        if not path.exists():
            return declared_catalogue(spec.options)
        voices = [
            voice for file, config in _voice_files(path) for voice, _ in _voices_of(file, config)
        ]
        return _catalogue(voices, spec.options)

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
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = int(spec.options.get("threads", 0))
        voices: list[Voice] = []
        engines: dict[str, tuple[Any, int | None]] = {}
        for onnx_file, config in _voice_files(path):
            engine = PiperVoice(
                session=onnxruntime.InferenceSession(
                    str(onnx_file), sess_options=session_options, providers=["CPUExecutionProvider"]
                ),
                config=PiperConfig.from_dict(config),
                download_dir=onnx_file.parent,  # never the working directory
            )
            for voice, speaker_id in _voices_of(onnx_file, config):
                voices.append(voice)
                engines[voice.id] = (engine, speaker_id)
        return cls(_catalogue(voices, spec.options), engines)

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        entry = self._engines[self.resolve_voice(voice)]
        rate = entry[0].config.sample_rate
        return SpeechAudio.concatenate(self._chunks(entry, text, speed), rate)

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        # Piper already speaks one sentence per chunk.
        yield from self._chunks(self._engines[self.resolve_voice(voice)], text, speed)

    def _chunks(
        self, entry: tuple[Any, int | None], text: str, speed: float
    ) -> Iterator[SpeechAudio]:
        from piper.config import SynthesisConfig

        engine, speaker_id = entry
        config = SynthesisConfig(
            speaker_id=speaker_id, length_scale=engine.config.length_scale / speed
        )
        for chunk in engine.synthesize(text, syn_config=config):
            yield SpeechAudio(chunk.audio_float_array.astype(np.float32), chunk.sample_rate)


def _voice_files(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each voice file at `path` (a folder, or one .onnx file) with its .onnx.json config."""
    files = [path] if path.suffix == ".onnx" else sorted(path.glob("*.onnx"))
    if not files:
        raise RuntimeError(f"no Piper voice (.onnx + .onnx.json) in {path}")
    voices = []
    for onnx_file in files:
        config_file = onnx_file.with_name(onnx_file.name + ".json")
        if not config_file.is_file():
            raise RuntimeError(f"Piper voice {onnx_file} has no {config_file.name}")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        voices.append((onnx_file, config))
    return voices


def _voices_of(onnx_file: Path, config: dict[str, Any]) -> list[tuple[Voice, int | None]]:
    """The voices of one file, each with its speaker id: the file's own, named as the file
    (its first speaker), then `NAME:SPEAKER` for each speaker of a multi-speaker file."""
    name = onnx_file.name.removesuffix(".onnx")
    language = config.get("language", {})
    languages = [language_tag(language["code"])] if language.get("code") else []
    languages += [language_tag(config.get("espeak", {}).get("voice", ""))]
    if language.get("family"):
        languages.append(language_tag(language["family"]))
    tags = tuple(dict.fromkeys(tag for tag in languages if tag))
    speakers: dict[str, int] = config.get("speaker_id_map") or {}
    voices: list[tuple[Voice, int | None]] = [
        (Voice(id=name, languages=tags, name=name), 0 if speakers else None)
    ]
    voices += [
        (Voice(id=f"{name}:{speaker}", languages=tags, name=speaker), sid)
        for speaker, sid in speakers.items()
    ]
    return voices


def _catalogue(voices: list[Voice], options: dict[str, Any]) -> VoiceCatalogue:
    """Each language spoken by the first voice that names it, under the configured options."""
    automatic: dict[str, str] = {}
    for voice in voices:
        for lang in voice.languages:
            automatic.setdefault(lang, voice.id)
    return options_catalogue(voices, automatic, options)
