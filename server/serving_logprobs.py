"""Token log-probabilities in text answers: what a request asks for, and the OpenAI shapes of a
choice's tokens (all of them, or those a stream has not sent yet).

The engines hand each token's record over with the text (models/chat/logprobs.py); this is the
one place that turns them into OpenAI's chat and legacy-completion shapes, as vLLM does: a
log-probability of -inf (a token a JSON grammar forbids) is written as -9999.0, JSON having no
infinity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from models.chat.logprobs import TokenLogprob
from server.errors import APIError
from server.schemas.logprobs import (
    ChatChoiceLogprobs,
    ChatLogprob,
    ChatLogprobContent,
    CompletionLogprobs,
)
from server.schemas.text import ChatCompletionRequest, CompletionRequest

_FLOOR = -9999.0


def chat_logprobs(body: ChatCompletionRequest) -> int | None:
    """How many likeliest tokens each step reports (None: no logprobs); 400 for top_logprobs
    without logprobs, as OpenAI answers it."""
    if body.top_logprobs is not None and not body.logprobs:
        raise APIError(
            400, "top_logprobs is only allowed with logprobs: true.", param="top_logprobs"
        )
    return (body.top_logprobs or 0) if body.logprobs else None


def completion_logprobs(body: CompletionRequest) -> int | None:
    """The `logprobs` of a completion request; 400 with echo, whose prompt tokens would need
    log-probabilities of their own, which no engine here computes."""
    if body.logprobs is not None and body.echo:
        raise APIError(
            400,
            "logprobs with echo (log-probabilities of the prompt) is not supported.",
            param="echo",
            code="unsupported_parameter",
        )
    return body.logprobs


class LogprobTrail:
    """One choice's token records, as they come; a stream takes the unsent ones chunk by chunk."""

    def __init__(self) -> None:
        self._records: list[TokenLogprob] = []
        self._sent = 0  # records already in a chunk
        self._sent_chars = 0  # the length of their text: where the next one's starts

    def add(self, records: Iterable[TokenLogprob]) -> None:
        self._records.extend(records)

    def chat(self, *, unsent: bool = False) -> ChatChoiceLogprobs:
        """OpenAI's `choice.logprobs` of every token, or (unsent) of the tokens since the last
        call, which now count as sent."""
        return ChatChoiceLogprobs(content=[_chat_entry(r) for r in self._take(unsent)[0]])

    def completion(self, *, unsent: bool = False) -> CompletionLogprobs:
        """The legacy completions' `choice.logprobs`, as `chat` chooses its tokens."""
        records, offset = self._take(unsent)
        shape = CompletionLogprobs()
        for record in records:
            shape.tokens.append(record.token)
            shape.token_logprobs.append(_floor(record.logprob))
            top = {alt.token: _floor(alt.logprob) for alt in record.top}
            top.setdefault(record.token, _floor(record.logprob))  # OpenAI: and the sampled one
            shape.top_logprobs.append(top)
            shape.text_offset.append(offset)
            offset += len(record.token)
        return shape

    def _take(self, unsent: bool) -> tuple[Sequence[TokenLogprob], int]:
        if not unsent:
            return self._records, 0
        records, offset = self._records[self._sent :], self._sent_chars
        self._sent = len(self._records)
        self._sent_chars += sum(len(r.token) for r in records)
        return records, offset


def _chat_entry(record: TokenLogprob) -> ChatLogprobContent:
    return ChatLogprobContent(
        token=record.token,
        logprob=_floor(record.logprob),
        bytes=list(record.token.encode()),
        top_logprobs=[
            ChatLogprob(
                token=alt.token, logprob=_floor(alt.logprob), bytes=list(alt.token.encode())
            )
            for alt in record.top
        ],
    )


def _floor(logprob: float) -> float:
    return max(logprob, _FLOOR)
