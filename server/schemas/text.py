"""Schemas of the OpenAI text API: models, chat completions, completions (field by field)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from models.chat.base import SamplingOptions
from server.schemas.logprobs import ChatChoiceLogprobs, CompletionLogprobs


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


# --- models -----------------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "localshang"
    # extensions: what the model is and may be used for
    kind: str
    backend: str
    aliases: list[str] = Field(default_factory=list)
    licence: str
    loaded: bool
    parallelism: dict[str, Any] | None = Field(
        None,
        description="how vLLM spreads the model over GPUs and machines, as configured "
        "(tensor_parallel_size, pipeline_parallel_size, distributed_executor_backend); null on one "
        "device",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- requests ---------------------------------------------------------------------------------
class StreamOptions(BaseModel):
    include_usage: bool = False


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


_MODEL_DEFAULT = " Left out: the model's generation_config.json default, else "

# The value each sampling field falls back to when neither the request nor the model's
# generation_config sets it (OpenAI's defaults; vLLM's neutral ones for its extras).
NEUTRAL: dict[str, float] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
}

# vLLM sampling extras localshang does not implement, with the value that means "not used":
# a request giving any other value is refused (400) rather than answered without it.
UNSUPPORTED_VLLM_EXTRAS: dict[str, object] = {
    "use_beam_search": False,
    "length_penalty": 1.0,
    "bad_words": [],
    "allowed_token_ids": None,
    "truncate_prompt_tokens": None,
    "prompt_logprobs": None,
    "watermarking": None,
    "guided_json": None,
    "guided_regex": None,
    "guided_choice": None,
    "guided_grammar": None,
    "structured_outputs": None,
}


class SamplingRequest(BaseModel):
    """Fields that chat and legacy completions share: OpenAI's, then vLLM's sampling extras
    (same names, defaults and meaning as vLLM's OpenAI server). A sampling field left out takes
    the model's generation_config.json default, as in vLLM's server."""

    model_config = ConfigDict(extra="allow")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="0: greedy." + _MODEL_DEFAULT + "1."
    )
    top_p: float | None = Field(None, gt=0.0, le=1.0, description=_MODEL_DEFAULT + "1.")
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0, description=_MODEL_DEFAULT + "0.")
    frequency_penalty: float | None = Field(
        None, ge=-2.0, le=2.0, description=_MODEL_DEFAULT + "0."
    )
    user: str | None = None
    # --- vLLM's sampling extras ---------------------------------------------------------------
    top_k: int | None = Field(
        None,
        ge=-1,
        description="vLLM: sample among the k likeliest tokens only; 0 or -1: all of them."
        + _MODEL_DEFAULT
        + "all.",
    )
    min_p: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="vLLM: drop tokens less likely than min_p times the likeliest one."
        + _MODEL_DEFAULT
        + "0.",
    )
    repetition_penalty: float | None = Field(
        None,
        gt=0.0,
        description="vLLM: above 1, tokens already in the prompt or the completion get less "
        "likely (their logits divided by it, or multiplied where negative); below 1, more."
        + _MODEL_DEFAULT
        + "1.",
    )
    min_tokens: int = Field(
        0,
        ge=0,
        description="vLLM: generate at least this many tokens: until then, end-of-sequence and "
        "stop_token_ids cannot be sampled and stop strings do not count.",
    )
    ignore_eos: bool = Field(
        False,
        description="vLLM: go on through the model's end-of-sequence tokens, up to max_tokens "
        "(stop strings and stop_token_ids still stop); for benchmarks.",
    )
    stop_token_ids: list[Annotated[int, Field(ge=0)]] | None = Field(
        None,
        description="vLLM: token ids that end the completion like an end-of-sequence token "
        "(finish_reason 'stop'); their text is left out unless include_stop_str_in_output.",
    )
    skip_special_tokens: bool = Field(
        True, description="vLLM: leave special tokens (e.g. <|im_end|>) out of the text."
    )
    spaces_between_special_tokens: bool = Field(
        True,
        description="vLLM: with skip_special_tokens false, let the tokenizer space consecutive "
        "special tokens; false writes them bare.",
    )
    include_stop_str_in_output: bool = Field(
        False,
        description="vLLM: end the text with the stop string (or the stop token's text) that "
        "ended it, instead of cutting it off.",
    )

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def to_sampling_options(
        self, max_tokens: int, model_defaults: Mapping[str, float]
    ) -> SamplingOptions:
        """The engine's options for this request (as vLLM's `to_sampling_params`): each sampling
        field the request's value, else the model's default, else the neutral one."""

        def pick(name: str) -> float:
            value = getattr(self, name)
            return float(value if value is not None else model_defaults.get(name, NEUTRAL[name]))

        return SamplingOptions(
            max_tokens=max_tokens,
            temperature=pick("temperature"),
            top_p=pick("top_p"),
            seed=self.seed,
            stop=self.stop_list(),
            presence_penalty=pick("presence_penalty"),
            frequency_penalty=pick("frequency_penalty"),
            top_k=max(0, int(pick("top_k"))),  # vLLM's -1 is 0: every token
            min_p=pick("min_p"),
            repetition_penalty=pick("repetition_penalty"),
            min_tokens=self.min_tokens,
            ignore_eos=self.ignore_eos,
            stop_token_ids=tuple(self.stop_token_ids or ()),
            skip_special_tokens=self.skip_special_tokens,
            spaces_between_special_tokens=self.spaces_between_special_tokens,
            include_stop_str_in_output=self.include_stop_str_in_output,
        )

    def unsupported_extra(self) -> str | None:
        """The first vLLM sampling extra the request uses that localshang does not implement."""
        extras = self.model_extra or {}
        return next(
            (
                name
                for name, unused in UNSUPPORTED_VLLM_EXTRAS.items()
                if name in extras and extras[name] not in (unused, None, [], {})
            ),
            None,
        )


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str


# --- tools (function calling) ------------------------------------------------------------------
class FunctionDefinition(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema of the arguments object
    strict: bool | None = None


class ChatTool(BaseModel):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: FunctionName


class FunctionCall(BaseModel):
    name: str
    arguments: str  # JSON text, as the model wrote it


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class _Sparse(BaseModel):
    """Leaves its unset fields out of the JSON: a delta's `"type": null` would overwrite the
    call's type in clients that merge deltas key by key (the openai client's stream helpers)."""

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class FunctionCallDelta(_Sparse):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(_Sparse):
    """One piece of a streamed tool call: the first carries id, type and name, the rest append
    to `function.arguments` of the call at the same `index`."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # assistant: the calls it made
    tool_call_id: str | None = None  # tool: the call this message answers

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[ChatTool] | None = None
    # default: "auto" with tools, "none" without (checked in serving_tools)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    logprobs: bool = Field(False, description="Return each answer token's log-probability.")
    top_logprobs: int | None = Field(
        None, ge=0, le=20, description="With logprobs: also the n likeliest tokens of each step."
    )

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingRequest):
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)
    echo: bool = False
    logprobs: int | None = Field(
        None, ge=0, le=5, description="Each token's log-probability and the n likeliest tokens."
    )

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else self.prompt


# --- responses --------------------------------------------------------------------------------
class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: ChatChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    system_fingerprint: str | None = None


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: ChatDelta
    finish_reason: str | None = None
    logprobs: ChatChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: str | None
    logprobs: CompletionLogprobs | None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
