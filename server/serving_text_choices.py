"""The choices of one text request: made (n per prompt), generated concurrently on one engine,
their text split into reasoning and content as it comes, and counted for usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from models.chat.base import ChatBackend, RequestRejected, SamplingOptions, TextDelta
from models.chat.reasoning import ReasoningSplitter
from server.errors import APIError
from server.schemas.text import Usage
from server.serving_logprobs import LogprobTrail
from server.serving_tools import ToolCallStream


@dataclass
class Choice:
    """One choice being generated: its prompt, options and the text gathered so far."""

    index: int
    prompt: str
    prompt_tokens: int
    options: SamplingOptions
    splitter: ReasoningSplitter | None
    text: str = ""
    reasoning: str = ""
    completion_tokens: int = 0
    finish_reason: str | None = None
    tools: ToolCallStream | None = None  # finds the tool calls in the content (ToolPlan.stream)
    logprobs: LogprobTrail | None = None  # the tokens' log-probabilities, where asked for


def make_choices(
    prompt: str,
    prompt_tokens: int,
    n: int,
    options: SamplingOptions,
    reasoning: bool,
    first_index: int = 0,
) -> list[Choice]:
    """n choices of one prompt; a seeded request gives choice i the seed+i (distinct but
    repeatable). The prompt is counted once, on the first choice, as OpenAI counts it."""
    return [
        Choice(
            index=first_index + i,
            prompt=prompt,
            prompt_tokens=prompt_tokens if i == 0 else 0,
            options=options if options.seed is None else replace(options, seed=options.seed + i),
            splitter=ReasoningSplitter() if reasoning else None,
            logprobs=LogprobTrail() if options.logprobs is not None else None,
        )
        for i in range(n)
    ]


async def generate(
    backend: ChatBackend, choices: list[Choice]
) -> AsyncIterator[tuple[Choice, str, str]]:
    """Run all choices concurrently; yield (choice, reasoning delta, content delta) as they come."""
    if len(choices) == 1:  # the usual request: its stream read directly, no task or queue
        choice = choices[0]
        stream = backend.generate(choice.prompt, choice.options)
        try:
            async for delta in stream:
                if (step := _take(choice, delta)) is not None:
                    yield step
        except RequestRejected as exc:
            raise _rejected(exc) from exc
        finally:
            await stream.aclose()
        return
    queue: asyncio.Queue[tuple[Choice, TextDelta] | BaseException | None] = asyncio.Queue()

    async def pump(choice: Choice) -> None:
        stream = backend.generate(choice.prompt, choice.options)
        try:
            async for delta in stream:
                await queue.put((choice, delta))
        except Exception as exc:
            await queue.put(exc)
        finally:
            await stream.aclose()
            await queue.put(None)

    tasks = [asyncio.create_task(pump(c)) for c in choices]
    try:
        running = len(tasks)
        while running:
            # Take every delta already waiting: when the engine outruns the client, each
            # choice gets one merged chunk instead of one chunk per token.
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            merged: dict[int, tuple[Choice, TextDelta]] = {}
            for item in items:
                if item is None:
                    running -= 1
                elif isinstance(item, RequestRejected):
                    raise _rejected(item) from item
                elif isinstance(item, BaseException):
                    raise item
                else:
                    choice, delta = item
                    if choice.index in merged:
                        delta = merged[choice.index][1].then(delta)
                    merged[choice.index] = (choice, delta)
            for choice, delta in merged.values():
                if (step := _take(choice, delta)) is not None:
                    yield step
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _take(choice: Choice, delta: TextDelta) -> tuple[Choice, str, str] | None:
    """Apply `delta` to its choice; what to send of it (None when there is nothing to send)."""
    reasoning, content = _split(choice, delta)
    choice.completion_tokens = delta.completion_tokens
    if choice.logprobs is not None:
        choice.logprobs.add(delta.logprobs)
    choice.finish_reason = delta.finish_reason or choice.finish_reason
    calls = choice.tools is not None and choice.tools.has_unsent
    if choice.tools is not None:
        choice.finish_reason = choice.tools.finish_reason(choice.finish_reason)
    if reasoning or content or calls or delta.finish_reason:
        return choice, reasoning, content
    return None


def _rejected(exc: RequestRejected) -> APIError:
    return APIError(400, f"The model refused the request: {exc}")


def usage_of(choices: Sequence[Choice]) -> Usage:
    prompt = sum(c.prompt_tokens for c in choices)
    completion = sum(c.completion_tokens for c in choices)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _split(choice: Choice, delta: TextDelta) -> tuple[str, str]:
    """Route a delta's text into reasoning and content, accumulating both on the choice."""
    if choice.splitter is None:
        reasoning, content = "", delta.text
    else:
        part = choice.splitter.feed(delta.text)
        reasoning, content = part.reasoning, part.content
        if delta.finish_reason:
            tail = choice.splitter.finish()
            reasoning, content = reasoning + tail.reasoning, content + tail.content
        if not choice.text:  # the answer after </think> starts with a blank line; drop it
            content = content.lstrip("\n")
        if not choice.reasoning:
            reasoning = reasoning.lstrip("\n")
    if choice.tools is not None:
        content = choice.tools.feed(content, delta.finish_reason)
    choice.reasoning += reasoning
    choice.text += content
    return reasoning, content
