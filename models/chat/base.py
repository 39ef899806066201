"""The chat-LLM interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


class TextStream:
    """The text of one generation, sent on as it becomes safe: what could still be the start of
    a stop string is held back, and a stop string ends the generation without being sent."""

    def __init__(self, options: SamplingOptions, send: Callable[[TextDelta], object]) -> None:
        self._options = options
        self._send = send
        self._pending = ""  # decoded, not yet sent

    def add(self, piece: str, tokens: int, *, out_of_room: bool, flush: Callable[[], str]) -> bool:
        """`piece` is the text the `tokens`-th token completed; `out_of_room` when the context
        has no place for another one; `flush` gives what the detokenizer still holds. False
        when the generation is over (its last delta is sent)."""
        options = self._options
        self._pending += piece
        if options.stop and truncate_at_stop(self._pending, options.stop)[1]:
            return self.finish("stop", tokens, flush())
        if tokens >= options.max_tokens or out_of_room:
            return self.finish("length", tokens, flush())
        safe = len(self._pending) - stop_holdback(self._pending, options.stop)
        if safe > 0:
            self._send(TextDelta(self._pending[:safe], tokens))
            self._pending = self._pending[safe:]
        return True

    def finish(self, reason: FinishReason, tokens: int, tail: str = "") -> bool:
        """Send the last delta (the held-back text and `tail`, cut at a stop string); False."""
        text, stopped = truncate_at_stop(self._pending + tail, self._options.stop)
        self._send(TextDelta(text, tokens, "stop" if stopped else reason))
        return False


def check_request(prompt_ids: Sequence[int], context_length: int, options: SamplingOptions) -> None:
    """ValueError (a 400 upstream) for what no engine can run: an empty prompt, one that fills
    the context, or no tokens to generate."""
    if not prompt_ids:
        raise ValueError("the prompt is empty")
    if len(prompt_ids) >= context_length:
        raise ValueError(
            f"the prompt has {len(prompt_ids)} tokens; the context holds {context_length}"
        )
    if options.max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")


Delivery = Callable[[TextDelta | BaseException], object]


class Cancellable(Protocol):
    cancelled: bool


async def relay(
    start: Callable[[Delivery], Cancellable],
) -> AsyncGenerator[TextDelta, None]:
    """The deltas an engine thread delivers for one request, as an async stream.

    `start(deliver)` hands the request to the engine's thread, which calls `deliver` (from any
    thread) with each TextDelta, the last one carrying finish_reason, or with an exception.
    Closing the stream early marks the request cancelled: the engine drops it at its next step.
    """
    loop = asyncio.get_running_loop()
    deltas: asyncio.Queue[TextDelta | BaseException] = asyncio.Queue()
    request = start(lambda item: loop.call_soon_threadsafe(deltas.put_nowait, item))
    try:
        while True:
            item = await deltas.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.finish_reason is not None:
                return
    finally:
        request.cancelled = True
