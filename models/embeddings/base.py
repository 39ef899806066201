"""The text-embedding interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

import numpy as np

# Asymmetric retrieval models (e5, bge, ...) embed a search query and the text searched
# differently. None means "the model's default", which a prefix inside the text may override.
InputType = Literal["query", "passage"]


class EmbeddingBackend(ABC):
    """A loaded embedding model. Engine objects stay private; callers see only this.

    The methods are coroutines: the engine's blocking work runs on a thread of the backend's
    own, one batch at a time, so the event loop stays free and requests never compete for cores.
    """

    dimensions: int  # length of every vector
    context_length: int  # most tokens one input may have (prefix and special tokens included)
    max_inputs: int  # most inputs one call may embed

    @abstractmethod
    async def count_tokens(self, texts: Sequence[str], input_type: InputType | None) -> list[int]:
        """Tokens the model reads for each text, in order (what usage reports)."""

    @abstractmethod
    async def embed(self, texts: Sequence[str], input_type: InputType | None) -> np.ndarray:
        """Vectors of `texts` in order: float32, shape (len(texts), dimensions), unit length."""

    def close(self) -> None:  # noqa: B027 - engines without resources to free keep this default
        """Free the engine's memory; the object is unusable afterwards."""
