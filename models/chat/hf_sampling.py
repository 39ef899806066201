"""Token by token for the transformers backend: a request's sampler (vLLM's order of penalties,
temperature and filters) and the detokenizer that turns its tokens into text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from models.chat.base import MIN_TEMPERATURE, SamplingOptions, StopTokens


class TokenSampler:
    """One request's sampling: the logits processors, penalties and filters in vLLM's order
    (min_tokens mask; repetition penalty over prompt and completion; presence and frequency
    penalties over the completion; greedy below MIN_TEMPERATURE, else temperature, min_p,
    top_k, top_p) and its own seeded generator."""

    def __init__(
        self,
        options: SamplingOptions,
        stops: StopTokens,
        prompt_ids: Sequence[int],
        vocab_size: int,
        device: torch.device,
    ) -> None:
        self.options = options
        self._stops = stops
        self.generator = torch.Generator(device=device)
        if options.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(options.seed)
        self._counts: torch.Tensor | None = None  # times each id was generated
        if options.presence_penalty or options.frequency_penalty:
            self._counts = torch.zeros(vocab_size, device=device)
        self._seen: torch.Tensor | None = None  # ids in the prompt or the completion
        if options.repetition_penalty != 1.0:
            self._seen = torch.zeros(vocab_size, dtype=torch.bool, device=device)
            self._seen[torch.tensor(list(prompt_ids), device=device)] = True
        self._held = torch.tensor(sorted(stops.held), dtype=torch.long, device=device)
        self.generated = 0

    def sample(self, logits: torch.Tensor) -> int:
        """The next token from one row of float32 logits; counts it as generated."""
        token = self._choose(logits)
        self.generated += 1
        if self._counts is not None:
            self._counts[token] += 1
        if self._seen is not None:
            self._seen[token] = True
        return token

    def _choose(self, logits: torch.Tensor) -> int:
        options = self.options
        if self._stops.held_now(self.generated, options):
            logits = logits.index_fill(0, self._held, float("-inf"))
        if self._seen is not None:
            penalty = options.repetition_penalty
            penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
            logits = torch.where(self._seen, penalised, logits)
        if self._counts is not None:  # OpenAI penalties, on the tokens generated so far
            counts = self._counts
            logits = (
                logits
                - options.frequency_penalty * counts
                - options.presence_penalty * (counts > 0)
            )
        if options.temperature < MIN_TEMPERATURE:
            return int(logits.argmax())
        logits = logits / options.temperature
        if options.min_p > 0:
            probs = torch.softmax(logits, dim=-1)
            logits = logits.masked_fill(probs < options.min_p * probs.max(), float("-inf"))
        if 0 < options.top_k < logits.numel():
            kth = torch.topk(logits, options.top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        if options.top_p < 1:
            probs, order = probs.sort(descending=True)
            outside = probs.cumsum(-1) - probs >= options.top_p
            outside[0] = False  # the likeliest token stays, however small top_p is (even 5e-324)
            probs = probs.masked_fill(outside, 0.0)
            return int(order[torch.multinomial(probs, 1, generator=self.generator)])
        return int(torch.multinomial(probs, 1, generator=self.generator))


class IncrementalDetokenizer:
    """Turns a stream of token ids into text pieces without ever splitting a character.

    Decodes only a short window of recent tokens (as vLLM and TGI do), and holds text ending in
    U+FFFD back until the next tokens complete the multi-byte character. Without
    `spaces_between_special_tokens` (and with special tokens kept), an added token that follows
    another is written as its bare text, as vLLM's detokenizer does.
    """

    def __init__(
        self,
        tokenizer: Any,
        skip_special_tokens: bool = True,
        spaces_between_special_tokens: bool = True,
    ) -> None:
        self._tokenizer = tokenizer
        self._skip_special = skip_special_tokens
        self._bare: dict[int, str] = {}
        if not (skip_special_tokens or spaces_between_special_tokens):
            self._bare = {i: t.content for i, t in tokenizer.added_tokens_decoder.items()}
        self._after_added = False
        self._ids: list[int] = []
        self._prefix = 0  # start of the decoding window
        self._read = 0  # tokens up to here have been turned into text

    def push(self, token_id: int) -> str:
        bare = self._bare.get(token_id)
        follows_added, self._after_added = self._after_added, bare is not None
        if bare is not None and follows_added:
            held = self._advance(final=True)
            self._ids.append(token_id)
            self._prefix = self._read = len(self._ids)
            return held + bare
        self._ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """Whatever is still held back, at the end of the stream."""
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        seen = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) <= len(seen) or (text.endswith("\ufffd") and not final):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return text[len(seen) :]

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return str(self._tokenizer.decode(ids, skip_special_tokens=self._skip_special))
