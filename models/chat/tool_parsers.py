"""Find the tool calls a chat model writes in its text (per model family), on whole texts or streams."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParsedToolCall:
    """A call the model made: the function's name and its arguments as a JSON object's text."""

    name: str
    arguments: str


@dataclass(frozen=True)
class ToolParseDelta:
    """What a piece of model text turned out to be: answer text and/or completed calls."""

    content: str = ""
    calls: tuple[ParsedToolCall, ...] = ()


class ToolParser(ABC):
    """Incremental parser: feed the model's text as it comes, then finish() once it has ended.
    Text that is still undecided (a call being written, a tag cut in half) is held back.
    `tools` are the names of the functions offered: a call to any other is not a call."""

    def __init__(self, tools: Collection[str]) -> None:
        self.tools = frozenset(tools)

    @abstractmethod
    def feed(self, text: str) -> ToolParseDelta: ...

    @abstractmethod
    def finish(self) -> ToolParseDelta: ...


# A call begins with the Hermes tag, or a code fence whose body starts like JSON (Qwen2.5-Coder
# writes its calls as ```json blocks more often than in tags; llama.cpp's hermes parser takes
# both, and the other wrappers it knows, the same way).
_OPENER = re.compile(r"<tool_call>|```(?:json|xml)?\s*(?=[\[{])")
# The end of the text that may still grow into an opener.
_PARTIAL_OPENER = re.compile(
    r"<(?:t(?:o(?:o(?:l(?:_(?:c(?:a(?:l(?:l)?)?)?)?)?)?)?)?)?$|`{1,2}$|```\w{0,4}\s*$"
)
# An answer that starts as a JSON object or a list of objects may be bare call objects.
_BARE_START = re.compile(r"\{|\[\s*\{")
_UNDECIDED_LIST = re.compile(r"\[\s*")
_CLOSERS = {"<tool_call>": "</tool_call>"}
_FENCE = "```"


class HermesToolParser(ToolParser):
    """Hermes / Qwen2.5 style: each call is `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.

    Also taken as calls, as llama.cpp's hermes parser does: a ```json (or ```xml, or bare ```)
    block holding a call object or a list of them, and an answer that is nothing but call
    objects. As vLLM's hermes parser: the text before the first call is the answer's content,
    text after a call is dropped, and a call left unclosed when the text ends still counts if
    its JSON is whole. A block that holds no call to an offered function (bad JSON, another
    name, an ordinary JSON code block) stays in the content, verbatim.
    """

    def __init__(self, tools: Collection[str]) -> None:
        super().__init__(tools)
        self._pending = ""
        self._opener: str | None = None  # the open call's opener; "" for a bare object
        self._answered = False  # non-blank text came before: no bare call object any more
        self._called = False  # a call was found: later free text is dropped

    def feed(self, text: str) -> ToolParseDelta:
        self._pending += text
        content: list[str] = []
        calls: list[ParsedToolCall] = []
        while True:
            if self._opener is not None:
                if not self._opener:
                    break  # a bare object lasts to the end of the text
                closer = _CLOSERS.get(self._opener, _FENCE)
                end = self._pending.find(closer)
                if end < 0:
                    break
                self._close(self._pending[:end], closer, content, calls)
                self._pending = self._pending[end + len(closer) :]
                continue
            if not self._answered and not self._called:
                stripped = self._pending.lstrip()
                if not stripped:
                    break
                if _UNDECIDED_LIST.fullmatch(stripped):
                    break  # "[" may open a list of calls, or a link in prose
                if _BARE_START.match(stripped):
                    self._opener, self._pending = "", stripped
                    continue
            found = _OPENER.search(self._pending)
            if found:
                self._free_text(self._pending[: found.start()], content)
                self._opener = found.group()
                self._pending = self._pending[found.end() :]
                continue
            partial = _PARTIAL_OPENER.search(self._pending)
            keep = len(self._pending) - partial.start() if partial else 0
            self._free_text(self._pending[: len(self._pending) - keep], content)
            self._pending = self._pending[len(self._pending) - keep :]
            break
        return ToolParseDelta("".join(content), tuple(calls))

    def finish(self) -> ToolParseDelta:
        content: list[str] = []
        calls: list[ParsedToolCall] = []
        if self._opener is not None:
            self._close(self._pending, "", content, calls)
        else:
            self._free_text(self._pending, content)
        self._pending = ""
        return ToolParseDelta("".join(content), tuple(calls))

    def _free_text(self, text: str, content: list[str]) -> None:
        if self._called:
            return
        self._answered = self._answered or bool(text.strip())
        content.append(text)

    def _close(
        self, body: str, closer: str, content: list[str], calls: list[ParsedToolCall]
    ) -> None:
        opener, self._opener = self._opener or "", None
        found = calls_in(body, self.tools)
        if found:
            self._called = True
            calls.extend(found)
        else:
            self._free_text(opener + body + closer, content)


def calls_in(text: str, tools: Collection[str]) -> list[ParsedToolCall]:
    """The calls in `text`: one call object, a list of them, or several one after another; none
    unless every one of them is a call to a function in `tools`."""
    decoder, values, position = json.JSONDecoder(), [], 0
    text = text.strip()
    try:
        while position < len(text):
            value, position = decoder.raw_decode(text, position)
            values.extend(value if isinstance(value, list) else [value])
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
    except ValueError:
        return []
    calls = [call_from_object(value) for value in values]
    if not calls or any(call is None or call.name not in tools for call in calls):
        return []
    return [call for call in calls if call is not None]


def call_from_object(value: Any) -> ParsedToolCall | None:
    """`{"name": "f", "arguments": {...}}` (arguments also as a JSON string, or `parameters`, as
    some models write them) as a call; None when the value is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ParsedToolCall(value["name"], json.dumps(arguments, ensure_ascii=False))


TOOL_PARSERS: dict[str, type[ToolParser]] = {"hermes": HermesToolParser}


def tool_parser(name: str, tools: Collection[str]) -> ToolParser:
    """A fresh parser of the named family (a model's `tool_parser` option) for these functions."""
    try:
        return TOOL_PARSERS[name](tools)
    except KeyError:
        raise ValueError(f"unknown tool_parser '{name}' (known: {sorted(TOOL_PARSERS)})") from None


def parse_tool_calls(text: str, name: str, tools: Collection[str]) -> ToolParseDelta:
    """Whole-text form of the named parser."""
    parser = tool_parser(name, tools)
    first, last = parser.feed(text), parser.finish()
    return ToolParseDelta(first.content + last.content, first.calls + last.calls)
