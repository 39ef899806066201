"""The decode loop of the transformers backend: one thread batches the decoding of many requests.

Each request is prefilled alone and keeps its own KV cache; every step decodes one token for
every running request in one forward, with an attention function that lets each row attend
to exactly its own tokens (no padding, so a row's numbers do not depend on its neighbours).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from models.chat.base import SamplingOptions, StopTokens, TextDelta, TextStream
from models.chat.hf_grammar import JsonConstraint, JsonGrammars
from models.chat.hf_sampling import IncrementalDetokenizer, TokenSampler
from models.chat.logprobs import PendingLogprobs, token_logprob
from models.chat.slots import BatchStats, SlotScheduler

log = logging.getLogger(__name__)

ATTENTION = "localshang_per_request"


# --- model plumbing -------------------------------------------------------------------------
class _RequestKV:
    """KV cache of one request: per layer, keys and values of shape [1, kv_heads, capacity, head_dim].

    Capacity grows by doubling and depends only on this request's own length, so a request's
    tensors look the same whichever other requests share its batch.
    """

    def __init__(self, num_layers: int) -> None:
        self.length = 0
        self._keys: list[torch.Tensor | None] = [None] * num_layers
        self._values: list[torch.Tensor | None] = [None] * num_layers

    def write(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions of `layer` (after `length`); return every position so far."""
        end = self.length + keys.shape[2]
        stored_k, stored_v = self._keys[layer], self._values[layer]
        if stored_k is None or stored_v is None or stored_k.shape[2] < end:
            capacity = max(end, 2 * (stored_k.shape[2] if stored_k is not None else 0))
            shape = (1, keys.shape[1], capacity, keys.shape[3])
            new_k, new_v = keys.new_empty(shape), values.new_empty(shape)
            if stored_k is not None and stored_v is not None:
                new_k[:, :, : self.length] = stored_k[:, :, : self.length]
                new_v[:, :, : self.length] = stored_v[:, :, : self.length]
            self._keys[layer], self._values[layer] = stored_k, stored_v = new_k, new_v
        stored_k[:, :, self.length : end] = keys
        stored_v[:, :, self.length : end] = values
        return stored_k[:, :, :end], stored_v[:, :, :end]


class _BatchKV:
    """The `past_key_values` the model sees: routes each batch row to its request's own cache.

    `update` returns per-row lists instead of padded tensors; `per_request_attention` (our
    registered attention function) knows how to read them. Idle rows (None) are discarded.
    """

    def __init__(self, rows: Sequence[_RequestKV | None]) -> None:
        self.rows = rows

    def update(
        self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
        row_keys: list[torch.Tensor | None] = []
        row_values: list[torch.Tensor | None] = []
        for i, kv in enumerate(self.rows):
            k, v = (
                (None, None)
                if kv is None
                else kv.write(layer_idx, keys[i : i + 1], values[i : i + 1])
            )
            row_keys.append(k)
            row_values.append(v)
        return row_keys, row_values


def per_request_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: list[torch.Tensor | None],
    value: list[torch.Tensor | None],
    attention_mask: object,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of each batch row over exactly its own request's positions: no padding, no mask.

    Padding would change the length of the softmax reductions, and with it the last bits of
    the result, so a seeded request would not give the same text in every batch.
    """
    rows = []
    for i, (k, v) in enumerate(zip(key, value, strict=True)):
        if k is None or v is None:
            rows.append(query.new_zeros(1, query.shape[2], query.shape[1], query.shape[3]))
        else:
            out, _ = sdpa_attention_forward(module, query[i : i + 1], k, v, None, scaling=scaling)
            rows.append(out)
    return torch.cat(rows), None


# --- requests and sampling ------------------------------------------------------------------
@dataclass(eq=False)
class Request:
    prompt_ids: list[int]
    options: SamplingOptions
    stops: StopTokens
    deliver: Callable[[TextDelta | BaseException], object]
    cancelled: bool = False  # set by the consumer's side; the scheduler drops the request
    # Scheduler-thread state, filled in at prefill.
    kv: _RequestKV | None = None
    sampler: TokenSampler | None = None
    detokenizer: IncrementalDetokenizer | None = None
    grammar: JsonConstraint | None = None  # options.json_schema's matcher
    last_token: int = 0
    text: TextStream = field(init=False)
    logprobs: PendingLogprobs = field(default_factory=PendingLogprobs)

    def __post_init__(self) -> None:
        self.text = TextStream(self.options, self.send)

    def send(self, item: TextDelta | BaseException) -> None:
        if isinstance(item, TextDelta) and (records := self.logprobs.take()):
            item = replace(item, logprobs=records)
        try:
            self.deliver(item)
        except RuntimeError:  # the consumer's event loop is closed: nobody is listening
            self.cancelled = True

    def free(self) -> None:
        """Drop the cache and sampler state now, not when the stream ends."""
        self.kv = self.sampler = self.grammar = None


# --- the scheduler thread -------------------------------------------------------------------
@dataclass
class Engine:
    model: Any
    tokenizer: Any  # the thread's own copy: a Rust tokenizer used by two threads can fail ("Already borrowed")
    eos_ids: frozenset[int]
    context_length: int
    max_batch_size: int
    batch_invariant: bool
    device: torch.device
    threads: int | None  # torch CPU threads of the scheduler thread; None leaves torch's setting
    grammars: JsonGrammars  # compiles the requests' JSON schemas
    stats: BatchStats = field(default_factory=BatchStats)


class Scheduler(SlotScheduler[Request]):
    """Owns the model: every torch call happens in this one thread.

    Each loop: admit waiting requests into free slots (prefill each alone, sample its first
    token), then decode one token for every slot in one batched forward. A request that arrives
    while others decode joins the running batch at the next step. With `batch_invariant`, the
    decode batch always has `max_batch_size` rows (idle ones are dummies) so that the matrix
    products see the same shapes whoever else is running.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        super().__init__(engine.max_batch_size, engine.stats, name)

    def _serve(self) -> None:
        if self._engine.threads:
            torch.set_num_threads(self._engine.threads)
        with torch.inference_mode():
            self._loop()

    def _start(self, request: Request, slot: int) -> bool:
        return self._prefill(request)

    def _prefill(self, request: Request) -> bool:
        """Run the prompt alone through the model and sample the first token; True if it goes on."""
        engine = self._engine
        options = request.options
        try:
            request.kv = _RequestKV(engine.model.config.num_hidden_layers)
            request.sampler = TokenSampler(
                options,
                request.stops,
                request.prompt_ids,
                engine.model.config.vocab_size,
                engine.device,
            )
            request.detokenizer = IncrementalDetokenizer(
                engine.tokenizer, options.skip_special_tokens, options.spaces_between_special_tokens
            )
            if options.json_schema is not None:
                request.grammar = engine.grammars.constraint(options.json_schema)
            positions = list(range(len(request.prompt_ids)))
            logits = self._forward([request], [request.prompt_ids], [positions])
            return self._advance(request, logits[0])
        except Exception as exc:
            log.exception("prefill failed")
            request.send(exc)
            return False

    def _step(self) -> None:
        engine = self._engine
        active = [r for r in self._slots if r is not None]
        rows = list(self._slots) if engine.batch_invariant else active
        pad = min(engine.eos_ids)
        try:
            logits = self._forward(
                rows,
                [[r.last_token if r else pad] for r in rows],
                [[r.kv.length if r and r.kv else 0] for r in rows],
            )
        except Exception as exc:
            log.exception("decode step failed")
            for failed in active:
                failed.send(exc)
            self._slots = [None] * engine.max_batch_size
            self._count()
            return
        engine.stats.decode_steps += 1
        engine.stats.max_batch = max(engine.stats.max_batch, len(active))
        for i, request in enumerate(rows):
            if request is None:
                continue
            try:
                going_on = self._advance(request, logits[i])
            except Exception as exc:
                log.exception("sampling failed")
                request.send(exc)
                going_on = False
            if not going_on:
                self._slots[self._slots.index(request)] = None
        self._count()

    def _forward(
        self,
        rows: Sequence[Request | None],
        input_ids: list[list[int]],
        positions: list[list[int]],
    ) -> torch.Tensor:
        """One forward pass; returns the float32 logits of each row's last position."""
        engine = self._engine
        device = engine.device
        output = engine.model(
            input_ids=torch.tensor(input_ids, device=device),
            position_ids=torch.tensor(positions, device=device),
            past_key_values=_BatchKV([r.kv if r else None for r in rows]),
            use_cache=True,
            logits_to_keep=1,
        )
        for request in rows:
            if request is not None and request.kv is not None:
                request.kv.length += len(input_ids[0])
        return output.logits[:, -1, :].float()

    def _advance(self, request: Request, logits: torch.Tensor) -> bool:
        """Sample the request's next token and send the text it makes safe; False when finished."""
        engine = self._engine
        sampler, detokenizer = request.sampler, request.detokenizer
        assert sampler is not None and detokenizer is not None and request.kv is not None
        if request.cancelled:
            engine.stats.aborted += 1
            request.free()
            return False
        grammar = request.grammar
        if grammar is not None:
            grammar.mask(logits)
        token = sampler.sample(logits)
        if grammar is not None:
            grammar.accept(token)
        request.last_token = token
        engine.stats.completion_tokens += 1
        # a grammar ends with a stop token, which ignore_eos may not count as one
        if token in request.stops.ends or (grammar is not None and grammar.terminated):
            # the stop token's own text only where the request asks for it (as in vLLM)
            own = detokenizer.push(token) if request.options.include_stop_str_in_output else ""
            tail = request.logprobs.crediting(detokenizer.flush)()
            self._record(request, logits, token, own or self._token_text(token))
            going = request.text.finish("stop", sampler.generated, own + tail)
        else:
            piece = detokenizer.push(token)
            self._record(request, logits, token, piece)
            going = request.text.add(
                piece,
                sampler.generated,
                out_of_room=request.kv.length + 1 >= engine.context_length,
                flush=request.logprobs.crediting(detokenizer.flush),
            )
        if not going:
            request.free()
        return going

    def _record(self, request: Request, logits: torch.Tensor, token: int, text: str) -> None:
        """The token's log-probabilities, where the request asks for them (see logprobs.py: the
        distribution before sampling's own changes; `logits` is only grammar-masked here)."""
        top = request.options.logprobs
        if top is not None:
            row = logits.cpu().numpy()
            request.logprobs.add(token_logprob(row, token, text, top, self._token_text))

    def _token_text(self, token: int) -> str:
        """A token's text on its own, special tokens written out (vLLM's decoded_token)."""
        return str(self._engine.tokenizer.decode([token], skip_special_tokens=False))
