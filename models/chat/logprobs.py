"""Token log-probabilities of a generation, as the engines hand them to the server.

Every engine reports, for each token it generates, the log-probability the model gave it and
the likeliest tokens at that step. As in vLLM (its default logprobs mode, "raw_logprobs"), the
distribution is the model's own: the log-softmax of the logits before temperature, penalties
and the top-k/top-p/min-p filters, with only a JSON grammar's forbidden tokens taken out (vLLM
masks those before it computes them too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class TopLogprob:
    """One of the likeliest tokens of a step: its text and log-probability."""

    token: str
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token: the text it added to the answer (a stop token's own text), its
    log-probability, and the step's likeliest tokens, most likely first."""

    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()


def token_logprob(
    logits: np.ndarray, token: int, text: str, top: int, text_of: Callable[[int], str]
) -> TokenLogprob:
    """The record of `token`, sampled from one row of `logits`, with the `top` likeliest tokens
    (each written by `text_of`)."""
    row = logits.astype(np.float64)
    peak = row.max()
    logprobs = row - (peak + np.log(np.exp(row - peak).sum()))
    best: list[int] = []
    if top > 0:
        candidates = np.argpartition(-logprobs, min(top, len(row) - 1))[:top]
        best = sorted(candidates.tolist(), key=lambda i: (-logprobs[i], i))
    return TokenLogprob(
        text,
        float(logprobs[token]),
        tuple(TopLogprob(text_of(i), float(logprobs[i])) for i in best),
    )


class PendingLogprobs:
    """The records of the tokens whose delta has not gone out yet; the next delta takes them
    (a token whose text is held back, e.g. half a character, rides with a later delta)."""

    def __init__(self) -> None:
        self._records: list[TokenLogprob] = []

    def add(self, record: TokenLogprob) -> None:
        self._records.append(record)

    def crediting(self, flush: Callable[[], str]) -> Callable[[], str]:
        """`flush` (what the detokenizer holds back, asked for at the end of a generation), its
        text also credited to the last record so far: the token that brought the stream to its
        end is the one that completes that text."""

        def flushed() -> str:
            text = flush()
            if text and self._records:
                last = self._records[-1]
                self._records[-1] = replace(last, token=last.token + text)
            return text

        return flushed

    def take(self) -> tuple[TokenLogprob, ...]:
        """The records so far, for the delta going out now."""
        records, self._records = tuple(self._records), []
        return records
