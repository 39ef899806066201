"""Serving logic of embeddings: check the inputs against the model's limits, embed, encode."""

from __future__ import annotations

import base64

import numpy as np

from models.embeddings.base import EmbeddingBackend
from server.errors import APIError
from server.schemas.embeddings import (
    CreateEmbeddingRequest,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingUsage,
)
from server.serving_base import ModelService


class EmbeddingService(ModelService[EmbeddingBackend]):
    kind = "embedding"

    async def create(self, body: CreateEmbeddingRequest) -> CreateEmbeddingResponse:
        spec = self.resolve(body.model)
        texts = body.texts()
        if texts is None:
            raise APIError(
                400,
                f"Model '{body.model}' takes text, not token ids: token ids of another "
                "tokenizer mean nothing to it. Send the text itself (LangChain's "
                "OpenAIEmbeddings: set check_embedding_ctx_length=False).",
                param="input",
                code="unsupported_value",
            )
        input_type = body.wanted_input_type()
        async with await self.lease(spec) as lease:
            backend = lease.backend
            _check_limits(body, texts, backend)
            tokens = await backend.count_tokens(texts, input_type)
            _check_lengths(tokens, backend.context_length)
            vectors = await backend.embed(texts, input_type)
        prompt_tokens = sum(tokens)
        await self.meter.tokens(prompt_tokens, 0)
        return CreateEmbeddingResponse(
            data=[
                Embedding(index=index, embedding=_encode(vector, body.encoding_format))
                for index, vector in enumerate(vectors)
            ],
            model=body.model,
            usage=EmbeddingUsage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens),
        )


def _check_limits(
    body: CreateEmbeddingRequest, texts: list[str], backend: EmbeddingBackend
) -> None:
    if len(texts) > backend.max_inputs:
        raise APIError(
            400,
            f"Too many inputs: {len(texts)}. Model '{body.model}' embeds at most "
            f"{backend.max_inputs} inputs per request; split them over several requests.",
            param="input",
            code="too_many_inputs",
        )
    if body.dimensions is not None and body.dimensions != backend.dimensions:
        raise APIError(
            400,
            f"Model '{body.model}' makes {backend.dimensions}-dimensional vectors and cannot "
            f"shorten them to {body.dimensions} without losing quality (it was not trained "
            f"for it). Leave dimensions out or set it to {backend.dimensions}.",
            param="dimensions",
            code="unsupported_value",
        )


def _check_lengths(tokens: list[int], limit: int) -> None:
    too_long = [(index, count) for index, count in enumerate(tokens) if count > limit]
    if too_long:
        index, count = too_long[0]
        more = f" ({len(too_long) - 1} more inputs are too long too)" if len(too_long) > 1 else ""
        raise APIError(
            400,
            f"input[{index}] has {count} tokens, but this model reads at most {limit} tokens "
            f"per input (its prefix and special tokens included){more}. Shorten or split the "
            "text.",
            param="input",
            code="context_length_exceeded",
        )


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # the raw little-endian float32 bytes, as OpenAI sends them
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return list(vector.tolist())
