"""Schemas of the token log-probabilities in chat and completion answers (OpenAI's shapes, as
vLLM's protocol.py spells them: ChatCompletionLogProbs, CompletionLogProbs)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ChatLogprob(BaseModel):
    """A token and its log-probability; `bytes` is its text's UTF-8 (None: no text)."""

    token: str
    logprob: float
    bytes: list[int] | None = None


class ChatLogprobContent(ChatLogprob):
    """A generated token, with the likeliest tokens at its step (top_logprobs of them)."""

    top_logprobs: list[ChatLogprob] = Field(default_factory=list)


class ChatChoiceLogprobs(BaseModel):
    content: list[ChatLogprobContent] | None = None


class CompletionLogprobs(BaseModel):
    """Legacy completions: per generated token its text, log-probability, the likeliest tokens
    at its step (the `logprobs` likeliest and the sampled one, by text) and where its text
    starts in the choice's text."""

    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)
