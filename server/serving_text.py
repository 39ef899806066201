"""Serving logic of chat completions and completions: one code path for streamed and whole answers."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from models.chat.base import ChatBackend, SamplingOptions
from server import sse
from server.cancellation import unless_disconnected
from server.errors import APIError
from server.schemas.text import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    Completion,
    CompletionChoice,
    CompletionRequest,
    SamplingRequest,
    Usage,
    new_id,
    now,
)
from server.serving_base import Lease, ModelService
from server.serving_logprobs import chat_logprobs, completion_logprobs
from server.serving_text_choices import Choice, generate, make_choices, usage_of
from server.serving_tools import ToolPlan, assistant_message, check_tools, template_messages


class TextService(ModelService[ChatBackend]):
    kind = "chat"

    # --- entry points ---------------------------------------------------------------------
    async def chat(self, body: ChatCompletionRequest, request: Request) -> Any:
        check_tools(body)
        logprobs = chat_logprobs(body)
        lease = await self.lease(self.resolve(body.model))
        try:
            backend = lease.backend
            messages = template_messages(body.messages)
            if any(m["role"] == "developer" for m in messages):  # OpenAI's newer name for system
                messages = [
                    m | {"role": "system"} if m["role"] == "developer" else m for m in messages
                ]
            tools = ToolPlan.of(body, backend, lease.spec.options)
            try:
                prompt = backend.render_chat(messages, tools=tools.definitions)
            except Exception as exc:  # templates raise their own errors (e.g. role order)
                raise APIError(
                    400, f"Cannot apply the chat template: {exc}", param="messages"
                ) from exc
            options, prompt_tokens = self._options(
                body, backend, prompt, body.token_limit(), "messages"
            )
            options = tools.constrain(self._with_response_format(body, backend, options))
            options = replace(options, logprobs=logprobs)
            reasoning = lease.spec.options.get("reasoning_parser") == "deepseek_r1"
            choices = make_choices(prompt, prompt_tokens, body.n, options, reasoning)
            for choice in choices:
                choice.tools = tools.stream()
        except BaseException:
            await lease.release()
            raise
        meta = (new_id("chatcmpl"), now(), body.model)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return self._sse(lease, choices, _ChatChunks(*meta), include_usage)
        usage = await self._collect(lease, choices, request)
        return ChatCompletion(
            id=meta[0],
            created=meta[1],
            model=meta[2],
            choices=[
                ChatChoice(
                    index=c.index,
                    message=assistant_message(c.text, c.reasoning if reasoning else None, c.tools),
                    finish_reason=c.finish_reason,
                    logprobs=None if c.logprobs is None else c.logprobs.chat(),
                )
                for c in choices
            ],
            usage=usage,
        )

    async def complete(self, body: CompletionRequest, request: Request) -> Any:
        logprobs = completion_logprobs(body)
        lease = await self.lease(self.resolve(body.model))
        try:
            prompts = body.prompts()
            if not prompts:
                raise APIError(400, "prompt must not be empty", param="prompt")
            choices = []
            for i, prompt in enumerate(prompts):
                options, prompt_tokens = self._options(
                    body, lease.backend, prompt, body.max_tokens, "prompt"
                )
                options = replace(options, logprobs=logprobs)
                choices += make_choices(
                    prompt, prompt_tokens, body.n, options, False, first_index=i * body.n
                )
        except BaseException:
            await lease.release()
            raise
        meta = (new_id("cmpl"), now(), body.model)
        echo = body.echo
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return self._sse(lease, choices, _CompletionChunks(*meta, echo=echo), include_usage)
        usage = await self._collect(lease, choices, request)
        return Completion(
            id=meta[0],
            created=meta[1],
            model=meta[2],
            choices=[
                CompletionChoice(
                    index=c.index,
                    text=(c.prompt if echo else "") + c.text,
                    finish_reason=c.finish_reason,
                    logprobs=None if c.logprobs is None else c.logprobs.completion(),
                )
                for c in choices
            ],
            usage=usage,
        )

    # --- request preparation --------------------------------------------------------------
    @staticmethod
    def _options(
        body: SamplingRequest,
        backend: ChatBackend,
        prompt: str,
        max_tokens: int | None,
        prompt_param: str,
    ) -> tuple[SamplingOptions, int]:
        """The request's decoding options, checked against the context; and the prompt's length."""
        prompt_tokens = backend.count_tokens(prompt)
        if prompt_tokens == 0:  # "" with a tokenizer that adds no BOS: nothing to continue
            raise APIError(
                400,
                f"The {prompt_param} is empty: this model needs at least one token to continue.",
                param=prompt_param,
                code="empty_prompt",
            )
        context = backend.context_length
        room = context - prompt_tokens
        if room <= 0 or (max_tokens is not None and max_tokens > room):
            asked = f" and {max_tokens} in the completion" if max_tokens is not None else ""
            raise APIError(
                400,
                f"This model's maximum context length is {context} tokens. However, you "
                f"requested {prompt_tokens + (max_tokens or 0)} tokens ({prompt_tokens} in "
                f"the {prompt_param}{asked}). Please reduce the length of the {prompt_param}"
                + (" or completion." if max_tokens is not None else "."),
                param=prompt_param,
                code="context_length_exceeded",
            )
        if (extra := body.unsupported_extra()) is not None:
            raise APIError(
                400,
                f"'{extra}' (a vLLM sampling parameter) is not supported by localshang.",
                param=extra,
                code="unsupported_parameter",
            )
        limit = max_tokens or room
        if body.min_tokens > limit:
            raise APIError(
                400,
                f"min_tokens ({body.min_tokens}) must be at most max_tokens ({limit}).",
                param="min_tokens",
            )
        return body.to_sampling_options(limit, backend.sampling_defaults), prompt_tokens

    @staticmethod
    def _with_response_format(
        body: ChatCompletionRequest, backend: ChatBackend, options: SamplingOptions
    ) -> SamplingOptions:
        fmt = body.response_format
        if fmt is None or fmt.type == "text":
            return options
        if not backend.supports_json_schema:
            raise APIError(
                400,
                f"response_format '{fmt.type}' needs guided decoding, which the backend of "
                f"model '{body.model}' does not offer.",
                param="response_format",
                code="unsupported_response_format",
            )
        if fmt.type == "json_object":
            return replace(options, json_schema={"type": "object"})
        schema = (fmt.json_schema or {}).get("schema")
        if not isinstance(schema, dict):
            raise APIError(
                400,
                "response_format.json_schema.schema must be a JSON schema object",
                param="response_format.json_schema",
            )
        return replace(options, json_schema=schema)

    # --- running --------------------------------------------------------------------------
    async def _collect(
        self, lease: Lease[ChatBackend], choices: list[Choice], request: Request
    ) -> Usage:
        """Generate every choice to the end; abort if the client goes away meanwhile.
        Returns the usage, metered however it ended."""
        try:
            async with lease:
                await unless_disconnected(request, _drain(generate(lease.backend, choices)))
        finally:
            usage = await self._meter(choices)
        return usage

    async def _meter(self, choices: list[Choice]) -> Usage:
        usage = usage_of(choices)
        await self.meter.tokens(usage.prompt_tokens, usage.completion_tokens)
        return usage

    async def _sse(
        self,
        lease: Lease[ChatBackend],
        choices: list[Choice],
        chunks: _ChunkBuilder,
        include_usage: bool,
    ) -> AsyncIterator[str | bytes]:
        async with lease:
            started: set[int] = set()
            try:
                async for choice, reasoning, content in generate(lease.backend, choices):
                    # A choice's opening chunk (chat: the role) goes out with its first text,
                    # after the prompt is processed, as in vLLM: clients time the first token
                    # from the first chunk.
                    if choice.index not in started:
                        started.add(choice.index)
                        if (first := chunks.first(choice)) is not None:
                            yield sse.event(first)
                    yield chunks.delta(choice, reasoning, content)
                if include_usage:
                    yield sse.event(chunks.usage(usage_of(choices)))
            except APIError as exc:
                yield sse.data(json.dumps(exc.body()))
            except Exception as exc:  # the status line is sent; the error has to travel in-band
                yield sse.data(json.dumps(APIError(500, f"generation failed: {exc}").body()))
            finally:  # what was generated counts, even for a client that hung up
                await self._meter(choices)
            yield sse.DONE


async def _drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


class _ChunkBuilder(ABC):
    """Shapes the SSE chunks of one API family (chat or legacy completions).

    A delta of plain text (no tool calls, no logprobs), the chunk sent for nearly every token,
    is framed from `_plain`: the schema's chunk dumped once per stream, so its fields, their
    order and their nulls stay the schema's, and each token costs a dict copy and one orjson
    call instead of three pydantic models."""

    def __init__(self, chunk_id: str, created: int, model: str) -> None:
        self.chunk_id, self.created, self.model = chunk_id, created, model
        self._plain = self._chunk([self._plain_choice()]).model_dump()

    def first(self, choice: Choice) -> BaseModel | None:
        return None

    def delta(self, choice: Choice, reasoning: str, content: str) -> str | bytes:
        """The SSE event of one delta of `choice`."""
        if choice.tools is None and choice.logprobs is None:
            entry = self._plain["choices"][0]
            fields = self._plain_fields(entry, reasoning, content)
            # finish_reason is set by the delta that ended the choice, the last one yielded
            fields |= {"index": choice.index, "finish_reason": choice.finish_reason}
            return sse.frame(self._plain | {"choices": [entry | fields]})
        return sse.event(self._delta(choice, reasoning, content))

    def usage(self, usage: Usage) -> BaseModel:
        return self._chunk([], usage)

    @abstractmethod
    def _chunk(self, choices: list[Any], usage: Usage | None = None) -> BaseModel: ...

    @abstractmethod
    def _plain_choice(self) -> BaseModel:
        """A chunk choice of plain text, as the schema builds it."""

    @abstractmethod
    def _plain_fields(self, entry: dict[str, Any], reasoning: str, content: str) -> dict[str, Any]:
        """What a plain-text delta changes in `entry` (`_plain_choice` dumped)."""

    @abstractmethod
    def _delta(self, choice: Choice, reasoning: str, content: str) -> BaseModel: ...


class _ChatChunks(_ChunkBuilder):
    def _chunk(self, choices: list[Any], usage: Usage | None = None) -> BaseModel:
        return ChatCompletionChunk(
            id=self.chunk_id, created=self.created, model=self.model, choices=choices, usage=usage
        )

    def first(self, choice: Choice) -> BaseModel:
        delta = ChatDelta(role="assistant", content="")
        return self._chunk([ChatChunkChoice(index=choice.index, delta=delta)])

    def _plain_choice(self) -> BaseModel:
        return ChatChunkChoice(index=0, delta=ChatDelta())

    def _plain_fields(self, entry: dict[str, Any], reasoning: str, content: str) -> dict[str, Any]:
        delta = {"content": content or None, "reasoning_content": reasoning or None}
        return {"delta": entry["delta"] | delta}

    def _delta(self, choice: Choice, reasoning: str, content: str) -> BaseModel:
        delta = ChatDelta(
            content=content or None,
            reasoning_content=reasoning or None,
            tool_calls=choice.tools.take() if choice.tools is not None else None,
        )
        logprobs = None if choice.logprobs is None else choice.logprobs.chat(unsent=True)
        return self._chunk(
            [
                ChatChunkChoice(
                    index=choice.index,
                    delta=delta,
                    finish_reason=choice.finish_reason,
                    logprobs=logprobs,
                )
            ]
        )


class _CompletionChunks(_ChunkBuilder):
    def __init__(self, chunk_id: str, created: int, model: str, echo: bool) -> None:
        super().__init__(chunk_id, created, model)
        self.echo = echo

    def _chunk(self, choices: list[Any], usage: Usage | None = None) -> BaseModel:
        return Completion(
            id=self.chunk_id, created=self.created, model=self.model, choices=choices, usage=usage
        )

    def first(self, choice: Choice) -> BaseModel | None:
        if not self.echo:
            return None
        return self._chunk(
            [CompletionChoice(index=choice.index, text=choice.prompt, finish_reason=None)]
        )

    def _plain_choice(self) -> BaseModel:
        return CompletionChoice(index=0, text="", finish_reason=None)

    def _plain_fields(self, entry: dict[str, Any], reasoning: str, content: str) -> dict[str, Any]:
        return {"text": content}

    def _delta(self, choice: Choice, reasoning: str, content: str) -> BaseModel:
        logprobs = None if choice.logprobs is None else choice.logprobs.completion(unsent=True)
        return self._chunk(
            [
                CompletionChoice(
                    index=choice.index,
                    text=content,
                    finish_reason=choice.finish_reason,
                    logprobs=logprobs,
                )
            ]
        )
