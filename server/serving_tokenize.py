"""Serving logic of vLLM's /tokenize and /detokenize: a chat model's own tokenizer, and its chat
template for messages, exactly as the completions endpoints use them."""

from __future__ import annotations

from models.chat.base import ChatBackend, RequestRejected
from models.spec import ModelSpec
from server.errors import APIError
from server.schemas.tokenize import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeChatRequest,
    TokenizeRequest,
    TokenizeResponse,
)
from server.serving_base import ModelService
from server.serving_tools import template_messages


class TokenizeService(ModelService[ChatBackend]):
    kind = "chat"

    async def tokenize(self, body: TokenizeRequest) -> TokenizeResponse:
        async with await self.lease(self._spec(body.model)) as lease:
            backend = lease.backend
            text = _render(backend, body) if isinstance(body, TokenizeChatRequest) else body.prompt
            try:
                tokens = backend.tokenize(text, body.add_special_tokens)
                strings = backend.token_strings(tokens) if body.return_token_strs else None
            except RequestRejected as exc:
                raise APIError(400, str(exc), param="model") from exc
            return TokenizeResponse(
                count=len(tokens),
                max_model_len=backend.context_length,
                tokens=tokens,
                token_strs=strings,
            )

    async def detokenize(self, body: DetokenizeRequest) -> DetokenizeResponse:
        async with await self.lease(self._spec(body.model)) as lease:
            try:
                return DetokenizeResponse(prompt=lease.backend.detokenize(body.tokens))
            except RequestRejected as exc:
                raise APIError(400, str(exc), param="tokens") from exc

    def _spec(self, model: str | None) -> ModelSpec:
        """The named chat model, or the default one (vLLM's server has only one)."""
        return self.registry.default("chat") if model is None else self.resolve(model)


def _render(backend: ChatBackend, body: TokenizeChatRequest) -> str:
    messages = [
        m | {"role": "system"} if m["role"] == "developer" else m  # OpenAI's newer name
        for m in template_messages(body.messages)
    ]
    try:
        return backend.render_chat(messages, body.add_generation_prompt)
    except Exception as exc:  # templates raise their own errors (e.g. role order)
        raise APIError(400, f"Cannot apply the chat template: {exc}", param="messages") from exc
