"""Schemas of the OpenAI embeddings API (`POST /v1/embeddings`), with our `input_type` extension."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

TokenIds = list[int]


class CreateEmbeddingRequest(BaseModel):
    # One text, a list of texts, or (OpenAI's pre-tokenised form) token ids: the models here
    # take text only and answer token ids with a 400 that says so.
    input: str | list[str] | TokenIds | list[TokenIds]
    model: str
    encoding_format: Literal["float", "base64"] = "float"
    # Accepted when it equals the model's own size: e5 is not trained for shortened vectors
    # (no Matryoshka training), so cutting them would silently lose quality.
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    # Extension (as NVIDIA NIM, Voyage and Cohere name it): embed the inputs as search queries
    # or as the passages searched ("document" is a synonym). Without it a model uses its
    # default, and a text may carry e5's own "query: " / "passage: " prefix instead.
    input_type: Literal["query", "passage", "document"] | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _known_shape(cls, value: Any) -> Any:
        if isinstance(value, str) or (
            isinstance(value, list)
            and (
                all(isinstance(item, str) for item in value)
                or all(_is_token_id(item) for item in value)
                or all(isinstance(item, list) and all(map(_is_token_id, item)) for item in value)
            )
        ):
            return value
        raise ValueError(
            "input must be a string, an array of strings, an array of token ids or an array "
            "of token-id arrays"
        )

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list[Any]) -> str | list[Any]:
        if value == "":
            raise ValueError("input is empty; it must contain text")
        if not value:
            raise ValueError("input must contain at least one item")
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, str | list) and len(item) == 0:
                raise ValueError(f"input[{index}] is empty; every input must contain text")
        return value

    def texts(self) -> list[str] | None:
        """The inputs as a list of texts, or None where they are token ids."""
        if isinstance(self.input, str):
            return [self.input]
        return [item for item in self.input if isinstance(item, str)] or None

    def wanted_input_type(self) -> Literal["query", "passage"] | None:
        return "passage" if self.input_type == "document" else self.input_type


def _is_token_id(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    # float: the numbers; base64: the little-endian float32 bytes, as OpenAI sends them
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
