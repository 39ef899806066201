"""The chat-LLM interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingOptions:
    """Decoding knobs of one request; max_tokens is always resolved (never None) by the caller."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    json_schema: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text; the last one of a stream carries finish_reason."""

    text: str
    completion_tokens: int
    finish_reason: FinishReason | None = None


class RequestRejected(ValueError):
    """The engine refused this request's parameters (e.g. a JSON schema it cannot compile)."""


class ChatBackend(ABC):
    """A loaded chat model. Engines keep their own objects private; callers see only this."""

    context_length: int
    supports_json_schema: bool = False

    @abstractmethod
    def render_chat(self, messages: Sequence[dict[str, Any]]) -> str:
        """Turn OpenAI-style messages into the prompt text with the model's chat template."""

    @abstractmethod
    def count_tokens(self, prompt: str) -> int:
        """Number of tokens `prompt` occupies in the context."""

    @abstractmethod
    def generate(self, prompt: str, options: SamplingOptions) -> AsyncGenerator[TextDelta, None]:
        """Stream the completion of `prompt`. Closing the iterator early aborts the generation."""

    def close(self) -> None:  # noqa: B027 - engines without resources to free keep this default
        """Free the engine's memory; the object is unusable afterwards."""


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the first stop string it contains; returns (text, stopped)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def stop_holdback(text: str, stop: Sequence[str]) -> int:
    """How many trailing chars of `text` could be the start of a stop string (not yet safe to emit)."""
    longest = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:n]):
                longest = n
                break
    return longest
