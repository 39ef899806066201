"""Schemas of vLLM's tokenizer endpoints, POST /tokenize and /detokenize, field by field."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from server.schemas.text import ChatMessage

_MODEL = Field(None, description="A chat model; left out: the default chat model.")
_TOKEN_STRS = Field(
    False, description="Also return each token's entry in the vocabulary (e.g. 'Ġhello')."
)


class TokenizeCompletionRequest(BaseModel):
    """Tokenize a text as /v1/completions would see it."""

    # fields vLLM has and localshang lacks (chat_template, tools, ...) are refused, not ignored
    model_config = ConfigDict(extra="forbid")

    model: str | None = _MODEL
    prompt: str
    add_special_tokens: bool = Field(
        True, description="Add the special tokens the tokenizer puts around every text (a BOS)."
    )
    return_token_strs: bool | None = _TOKEN_STRS


class TokenizeChatRequest(BaseModel):
    """Tokenize messages as /v1/chat/completions would see them, through the chat template."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = _MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    add_generation_prompt: bool = Field(
        True, description="End with the assistant's turn opened, as a chat completion does."
    )
    add_special_tokens: bool = Field(
        False,
        description="Add the tokenizer's special tokens on top of what the chat template writes.",
    )
    return_token_strs: bool | None = _TOKEN_STRS


TokenizeRequest = TokenizeCompletionRequest | TokenizeChatRequest


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int
    tokens: list[int]
    token_strs: list[str] | None = None


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = _MODEL
    tokens: list[Annotated[int, Field(ge=0, le=2**63 - 1)]]


class DetokenizeResponse(BaseModel):
    prompt: str
