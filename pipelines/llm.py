"""One whole chat answer from a ChatBackend: a reasoning model thinks first, on its own budget, and
only what follows its `</think>` is the answer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from models.chat.base import ChatBackend, SamplingOptions
from models.chat.reasoning import split_reasoning
from pipelines.errors import InvalidInput

# The problem a workflow names for an answer that never came (ChatAnswer.thinking_unfinished)
UNFINISHED_THINKING = "you thought until the token limit and gave no answer: think briefly"


@dataclass(frozen=True)
class ChatAnswer:
    text: str  # the answer, without the reasoning
    reasoning: str
    finish_reason: str | None
    completion_tokens: int
    # a reasoning model that never closed its reasoning (cut off by max_tokens): `text` is
    # empty, since what it wrote is thinking, however much of it reads like an answer
    thinking_unfinished: bool = False


@dataclass
class TokenTally:
    """Tokens the LLM calls of one piece of work (a request, a job) used, summed as they end."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


# Set by whoever meters the work; tasks the work starts share it (they copy the context).
_tally: ContextVar[TokenTally | None] = ContextVar("token_tally", default=None)


@contextlib.contextmanager
def tallying_tokens() -> Iterator[TokenTally]:
    """Count the tokens of every chat_answer made inside the block (in this task or its children)."""
    tally = TokenTally()
    reset = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(reset)


def current_tally() -> TokenTally | None:
    return _tally.get()


def render(backend: ChatBackend, messages: Sequence[dict[str, Any]]) -> str:
    """The chat prompt; for templates without a system role, the system text joins the user's."""
    try:
        return backend.render_chat(messages)
    except Exception:
        if not messages or messages[0]["role"] != "system" or len(messages) < 2:
            raise
        system, first, *rest = messages
        merged = {**first, "content": f"{system['content']}\n\n{first['content']}"}
        return backend.render_chat([merged, *rest])


def prompt_room(backend: ChatBackend, prompt: str) -> int:
    return backend.context_length - backend.count_tokens(prompt)


async def chat_answer(
    backend: ChatBackend,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int,
    temperature: float = 0.2,
    seed: int | None = None,
    json_schema: dict[str, Any] | None = None,
    prefill: str = "",
    min_room: int = 8,
) -> ChatAnswer:
    """Generate a whole answer; `max_tokens` is lowered to what the context leaves room for.

    `prefill` starts the assistant's answer (e.g. '{"title": "' so that a small model writes
    the JSON asked for instead of prose); it is part of the returned text.
    A reasoning model (backend.reasoning_budget_tokens) gets that many more tokens to think
    before the `max_tokens` of its answer, and neither the prefill nor the JSON schema: both
    would start the answer where its thinking must go.
    """
    thinking = backend.reasoning_budget_tokens
    if thinking is not None:
        prefill, json_schema, max_tokens = "", None, max_tokens + thinking
    prompt = render(backend, messages) + prefill
    room = prompt_room(backend, prompt)
    if room < min_room:
        raise InvalidInput(
            f"The prompt takes {backend.context_length - room} of the model's "
            f"{backend.context_length} context tokens; shorten the input",
            code="context_length_exceeded",
        )
    options = SamplingOptions(
        max_tokens=min(max_tokens, room),
        temperature=temperature,
        seed=seed,
        json_schema=json_schema,
    )
    pieces: list[str] = []
    finish_reason: str | None = None
    tokens = 0
    try:
        # aclosing: if this task is cancelled, closing the stream aborts the generation
        async with contextlib.aclosing(backend.generate(prompt, options)) as stream:
            async for delta in stream:
                pieces.append(delta.text)
                tokens = delta.completion_tokens or tokens
                finish_reason = delta.finish_reason or finish_reason
    finally:  # a generation cut short used what it generated
        tally = _tally.get()
        if tally is not None:
            tally.prompt_tokens += backend.context_length - room
            tally.completion_tokens += tokens
    split = split_reasoning(prefill + "".join(pieces), opened=thinking is not None)
    return ChatAnswer(
        split.content.strip(), split.reasoning, finish_reason, tokens, not split.closed
    )
