"""The chat-LLM interface every engine implements, and the plain types it speaks."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from models.chat.logprobs import TokenLogprob

FinishReason = Literal["stop", "length"]
# Below this, temperature means greedy decoding (as in vLLM): float32 logits divided by a
# tiny positive temperature overflow to inf, and the probabilities become NaN.
MIN_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class SamplingOptions:
    """Decoding knobs of one request; max_tokens is always resolved (never None) by the caller.

    The fields after json_schema are vLLM's sampling extras, with vLLM's meaning: top_k 0 and
    min_p 0 keep every token; repetition_penalty divides the positive logits (multiplies the
    negative ones) of every token in the prompt and the completion so far; min_tokens holds
    back every stop token id (end-of-sequence included) until that many tokens are out, and
    stop strings only count from there; ignore_eos keeps generating through the model's
    end-of-sequence ids; stop_token_ids end the generation like an end-of-sequence id;
    skip_special_tokens drops special tokens from the text; spaces_between_special_tokens
    (only without skip_special_tokens) lets the tokenizer's decoder space consecutive special
    tokens, False writes them bare; include_stop_str_in_output keeps the stop string, or the
    stop token's text, at the end of the text.
    """

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    json_schema: dict[str, Any] | None = field(default=None, hash=False)
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    min_tokens: int = 0
    ignore_eos: bool = False
    stop_token_ids: tuple[int, ...] = ()
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    # None: no log-probabilities; n: each generated token's, and the n likeliest at its step
    logprobs: int | None = None


# Sampling fields a model's generation_config.json may set a default for, as vLLM reads them.
GENERATION_DEFAULTS = (
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
)


def generation_defaults(config: Mapping[str, Any]) -> dict[str, float]:
    """The sampling defaults a generation_config sets (vLLM's server uses them for every field a
    request leaves out)."""
    return {name: config[name] for name in GENERATION_DEFAULTS if config.get(name) is not None}


def end_of_sequence_ids(tokenizer_eos: int | None, config: Mapping[str, Any]) -> frozenset[int]:
    """The ids that end a generation, as vLLM counts them: the tokenizer's end-of-sequence token
    and the generation_config's eos_token_id (one id or a list)."""
    listed = config.get("eos_token_id")
    listed = [listed] if isinstance(listed, int) else list(listed or [])
    return frozenset(int(i) for i in [tokenizer_eos, *listed] if i is not None and i >= 0)


@dataclass(frozen=True)
class StopTokens:
    """The token ids that end one request's generation, and those held back until min_tokens."""

    ends: frozenset[int]
    held: frozenset[int]  # masked out while fewer than min_tokens tokens are generated

    @classmethod
    def of(cls, eos_ids: Collection[int], options: SamplingOptions) -> StopTokens:
        """vLLM's rule: ignore_eos takes the end-of-sequence ids out of `ends` but not out of
        `held` (min_tokens still holds them back)."""
        stops = frozenset(options.stop_token_ids)
        ends = stops if options.ignore_eos else stops | frozenset(eos_ids)
        held = stops | frozenset(eos_ids) if options.min_tokens else frozenset()
        return cls(ends, held)

    def held_now(self, generated: int, options: SamplingOptions) -> frozenset[int]:
        """Ids the next token may not be, after `generated` tokens."""
        return self.held if generated < options.min_tokens else frozenset()


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text; the last one of a stream carries finish_reason."""

    text: str
    completion_tokens: int
    finish_reason: FinishReason | None = None
    # the tokens generated since the last delta, where the request asked for logprobs
    logprobs: tuple[TokenLogprob, ...] = ()

    def then(self, later: TextDelta) -> TextDelta:
        """This delta and the `later` one as one."""
        return TextDelta(
            self.text + later.text,
            later.completion_tokens,
            later.finish_reason,
            self.logprobs + later.logprobs,
        )


class RequestRejected(ValueError):
    """The engine refused this request's parameters (e.g. a JSON schema it cannot compile)."""


class ChatBackend(ABC):
    """A loaded chat model. Engines keep their own objects private; callers see only this."""

    context_length: int
    supports_json_schema: bool = False
    # what the model's generation_config sets (see generation_defaults); the server applies
    # them to the fields a request leaves out, as vLLM's server does
    sampling_defaults: Mapping[str, float] = {}
    # From the config, set by the registry (ModelSpec.reasoning_budget_tokens): None for a model
    # that answers at once; for one that thinks first (`...</think>answer`), the tokens the
    # workflows let it think on top of each answer's budget
    reasoning_budget_tokens: int | None = None

    @abstractmethod
    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        """Turn OpenAI-style messages into the prompt text with the model's chat template,
        ending with the assistant's turn opened (unless add_generation_prompt is False).
        `tools` (OpenAI tool definitions) go to the template, which shows them to the model."""

    @abstractmethod
    def count_tokens(self, prompt: str) -> int:
        """Number of tokens `prompt` occupies in the context."""

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        """The token ids of `text`, special tokens in it parsed as such; `add_special_tokens`
        adds those the tokenizer puts around every text (a BOS for Llama-style ones)."""
        raise RequestRejected("this engine does not expose its tokenizer")

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of `ids`, special tokens written out."""
        raise RequestRejected("this engine does not expose its tokenizer")

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Each id's entry in the vocabulary (e.g. 'Ġhello' in a byte-level BPE)."""
        raise RequestRejected("this engine does not expose its tokenizer")

    @abstractmethod
    def generate(self, prompt: str, options: SamplingOptions) -> AsyncGenerator[TextDelta, None]:
        """Stream the completion of `prompt`. Closing the iterator early aborts the generation."""

    def close(self) -> None:  # noqa: B027 - engines without resources to free keep this default
        """Free the engine's memory; the object is unusable afterwards."""


def truncate_at_stop(
    text: str, stop: Sequence[str], after: int = 0, include: bool = False
) -> tuple[str, bool]:
    """Cut `text` at the first stop string in it that ends past `after` chars: before it, or
    after it with `include`; returns (text, stopped)."""
    found = [
        (i, len(s)) for s in stop if s and (i := text.find(s, max(0, after - len(s) + 1))) >= 0
    ]
    if not found:
        return text, False
    start, length = min(found)
    return text[: start + length if include else start], True


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
    a stop string is held back, and a stop string ends the generation without being sent
    (with include_stop_str_in_output, it ends it after being sent). As in vLLM, a stop string
    only counts where it ends after the text of the first min_tokens tokens."""

    def __init__(self, options: SamplingOptions, send: Callable[[TextDelta], object]) -> None:
        self._options = options
        self._send = send
        self._pending = ""  # decoded, not yet sent
        self._floor = 0  # chars of _pending that are the first min_tokens tokens' text

    def add(self, piece: str, tokens: int, *, out_of_room: bool, flush: Callable[[], str]) -> bool:
        """`piece` is the text the `tokens`-th token completed; `out_of_room` when the context
        has no place for another one; `flush` gives what the detokenizer still holds. False
        when the generation is over (its last delta is sent)."""
        options = self._options
        self._pending += piece
        if tokens <= options.min_tokens:
            self._floor = len(self._pending)
        if options.stop and truncate_at_stop(self._pending, options.stop, self._floor)[1]:
            return self.finish("stop", tokens, flush())
        if tokens >= options.max_tokens or out_of_room:
            return self.finish("length", tokens, flush())
        safe = len(self._pending) - stop_holdback(self._pending, options.stop)
        if safe > 0:
            self._send(TextDelta(self._pending[:safe], tokens))
            self._pending = self._pending[safe:]
            self._floor = max(0, self._floor - safe)
        return True

    def finish(self, reason: FinishReason, tokens: int, tail: str = "") -> bool:
        """Send the last delta (the held-back text and `tail`, cut at a stop string); False."""
        text = self._pending + tail
        floor = len(text) if tokens <= self._options.min_tokens else self._floor
        options = self._options
        text, stopped = truncate_at_stop(
            text, options.stop, floor, options.include_stop_str_in_output
        )
        self._send(TextDelta(text, tokens, "stop" if stopped else reason))
        return False


def check_request(
    prompt_ids: Sequence[int], context_length: int, options: SamplingOptions, vocab_size: int
) -> None:
    """ValueError (a 400 upstream) for what no engine can run: an empty prompt, one that fills
    the context, no tokens to generate; RequestRejected for a stop token id the model lacks."""
    if not prompt_ids:
        raise ValueError("the prompt is empty")
    if len(prompt_ids) >= context_length:
        raise ValueError(
            f"the prompt has {len(prompt_ids)} tokens; the context holds {context_length}"
        )
    if options.max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    check_token_ids(options.stop_token_ids, vocab_size, "stop_token_ids")


def check_token_ids(ids: Sequence[int], vocab_size: int, what: str = "token ids") -> None:
    """RequestRejected (a 400 upstream) for ids outside the model's vocabulary."""
    unknown = [i for i in ids if not 0 <= i < vocab_size]
    if unknown:
        raise RequestRejected(
            f"{what} {unknown[:8]} are not in the model's vocabulary of {vocab_size} tokens"
        )


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
            # the deltas delivered while the consumer was busy go on as one (vLLM's engine
            # merges a request's outputs the same way): one chunk, not one per token
            while isinstance(item, TextDelta) and item.finish_reason is None and deltas.qsize():
                later = deltas.get_nowait()
                if isinstance(later, BaseException):
                    yield item
                    raise later
                item = item.then(later)
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.finish_reason is not None:
                return
    finally:
        request.cancelled = True
