"""Speech-to-text with faster-whisper (CTranslate2), behind the TranscriptionBackend interface."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from models.asr.audio import SAMPLE_RATE
from models.asr.base import Segment, Task, TranscriptionBackend, TranscriptStream, Word
from models.asr.languages import LANGUAGES
from models.spec import ModelSpec

# OpenAI: "If set to 0, the model will use log probability to automatically increase the
# temperature until certain thresholds are hit" - Whisper's own fallback ladder.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

# CTranslate2's test of a multilingual Whisper (WhisperModel::is_multilingual): its vocabulary size
_MULTILINGUAL_VOCABULARY = 51865

MIN_SAMPLES = SAMPLE_RATE  # shorter clips are padded with silence to one second

# faster-whisper decoding keywords an operator may set per model in `options`.
DECODING_OPTIONS = frozenset(
    {
        "beam_size",
        "best_of",
        "patience",
        "length_penalty",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "compression_ratio_threshold",
        "log_prob_threshold",
        "no_speech_threshold",
        "condition_on_previous_text",
        "prompt_reset_on_temperature",
        "hallucination_silence_threshold",
        "max_new_tokens",
        "chunk_length",
        "hotwords",
    }
)
_OWN_OPTIONS = frozenset(
    {
        "device",
        "device_index",
        "compute_type",
        "cpu_threads",
        "num_workers",
        "vad_filter",
        "vad_parameters",
        "batch_size",
        "batch_min_seconds",
        "max_audio_seconds",  # read by the server, which decodes the upload
    }
)


class WhisperASR(TranscriptionBackend):
    """A faster-whisper model behind the TranscriptionBackend interface.

    Options (the model's `options` in the config), all optional:
      device: "auto" (CUDA when CTranslate2 sees a GPU, else CPU), "cpu" or "cuda"; device_index.
      compute_type: int8 on CPU and float16 on GPU by default; int8_float16 halves GPU memory.
      cpu_threads: threads per transcription on CPU (default: the cores, at most 4).
      num_workers: transcriptions that may run at once (default 1; each one more costs memory).
      vad_filter: drop what Silero VAD (shipped inside faster-whisper) hears as no speech
        before decoding, unless a request says otherwise (default off);
        vad_parameters: a dict of faster-whisper VadOptions.
      batch_size: audio of batch_min_seconds (default 60) or more goes through
        BatchedInferencePipeline, this many 30 s chunks at a time (default 8 on GPU, 0 = off on
        CPU). It always uses VAD to cut the chunks.
      max_audio_seconds: the longest upload the server decodes for this model.
      Any faster-whisper decoding keyword in DECODING_OPTIONS (beam_size defaults to 5).
    """

    def __init__(self, model: Any, options: dict[str, Any], batch_size: int) -> None:
        self._model = model
        self._decoding = {k: v for k, v in options.items() if k in DECODING_OPTIONS}
        self._vad_filter = bool(options.get("vad_filter", False))
        self._vad_parameters = options.get("vad_parameters")
        self._batch_size = batch_size
        self._batch_min_seconds = float(options.get("batch_min_seconds", 60.0))
        tokenizer = model.hf_tokenizer
        self.languages = (
            tuple(c for c in model.supported_languages if tokenizer.token_to_id(f"<|{c}|>"))
            if model.model.is_multilingual
            else ("en",)
        )

    @classmethod
    def read_languages(cls, spec: ModelSpec, path: Path) -> tuple[str, ...]:
        """From the CTranslate2 vocabulary beside the weights, as CTranslate2 decides: a model
        of 51865 tokens or more is multilingual; each language that has its token. Without the
        vocabulary file on this machine (or with one inside model.bin): all of Whisper's."""
        for name, read in (("vocabulary.json", json.loads), ("vocabulary.txt", str.splitlines)):
            file = path / name
            if file.is_file():
                tokens = set(read(file.read_text(encoding="utf-8")))
                if len(tokens) < _MULTILINGUAL_VOCABULARY:
                    return ("en",)
                return tuple(code for code in LANGUAGES if f"<|{code}|>" in tokens)
        return tuple(LANGUAGES)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> WhisperASR:
        import ctranslate2
        from faster_whisper import WhisperModel

        options = dict(spec.options)
        unknown = set(options) - DECODING_OPTIONS - _OWN_OPTIONS
        if unknown:
            raise ValueError(f"unknown faster-whisper option(s): {', '.join(sorted(unknown))}")
        for required in ("model.bin", "tokenizer.json"):
            # without tokenizer.json faster-whisper would try to fetch one from the hub
            if not (path / required).is_file():
                raise ValueError(f"{path} is not a faster-whisper model folder: no {required}")
        device = str(options.get("device", "auto"))
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        on_gpu = device == "cuda"
        model = WhisperModel(
            str(path),
            device=device,
            device_index=options.get("device_index", 0),
            compute_type=options.get("compute_type", "float16" if on_gpu else "int8"),
            cpu_threads=int(options.get("cpu_threads", min(4, os.cpu_count() or 1))),
            num_workers=int(options.get("num_workers", 1)),
            local_files_only=True,
        )
        return cls(model, options, batch_size=int(options.get("batch_size", 8 if on_gpu else 0)))

    def close(self) -> None:
        self._model.model.unload_model()

    # --- verbs ----------------------------------------------------------------------------
    def stream(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        task: Task = "transcribe",
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        vad_filter: bool | None = None,
    ) -> TranscriptStream:
        """See TranscriptionBackend.stream. Feature extraction and language detection happen
        here, before it returns; decoding, as `segments` is iterated."""
        code = self.check_language(language) if language else None
        duration = len(audio) / SAMPLE_RATE
        if len(audio) < MIN_SAMPLES:
            # faster-whisper's word alignment fails on a clip of a frame or two; Whisper pads
            # every window to 30 s of silence anyway, so this changes nothing else
            audio = np.pad(audio, (0, MIN_SAMPLES - len(audio)))
        kwargs: dict[str, Any] = {
            "beam_size": 5,
            **self._decoding,
            "language": code,
            "task": task,
            "initial_prompt": prompt or None,
            "temperature": FALLBACK_TEMPERATURES if temperature == 0 else (temperature,),
            "word_timestamps": word_timestamps,
            "vad_parameters": self._vad_parameters,
        }
        if beam_size is not None:
            kwargs["beam_size"] = beam_size
        if self._batch_size > 0 and duration >= self._batch_min_seconds:
            from faster_whisper import BatchedInferencePipeline

            # a pipeline per request: it keeps per-transcription state
            pipeline = BatchedInferencePipeline(self._model)
            # with timestamps, a 30 s chunk comes back as sentences, not one long segment
            segments, info = pipeline.transcribe(
                audio,
                batch_size=self._batch_size,
                vad_filter=True,
                without_timestamps=False,
                **kwargs,
            )
        else:
            vad = self._vad_filter if vad_filter is None else vad_filter
            segments, info = self._model.transcribe(audio, vad_filter=vad, **kwargs)
        return TranscriptStream(
            language=info.language,
            language_probability=float(info.language_probability),
            duration=duration,
            segments=_plain_segments(segments, duration),
        )


def _plain_segments(segments: Iterable[Any], duration: float) -> Iterator[Segment]:
    """faster-whisper segments as ours: numbered from 0, times inside [0, duration], monotonic.

    Whisper may stamp the last window past the end of the audio (it pads to 30 s).
    """
    floor = 0.0
    for index, seg in enumerate(segments):
        start = _clamp(seg.start, floor, duration)
        end = _clamp(seg.end, start, duration)
        floor = start
        words: list[Word] = []
        for w in seg.words or ():
            word_start = _clamp(w.start, start, end)
            words.append(
                Word(word_start, _clamp(w.end, word_start, end), w.word, float(w.probability))
            )
        yield Segment(
            id=index,
            start=start,
            end=end,
            text=seg.text,
            avg_logprob=float(seg.avg_logprob),
            no_speech_prob=float(seg.no_speech_prob),
            compression_ratio=float(seg.compression_ratio),
            temperature=float(seg.temperature or 0.0),
            words=tuple(words),
            seek=int(seg.seek),
            tokens=tuple(int(t) for t in seg.tokens),
        )


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(max(float(value), low), high), 3)
