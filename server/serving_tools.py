"""Tool calling in chat completions, the OpenAI way: the request's checks, the tools in the prompt,
guided decoding for a forced call, and the calls found in each choice's text (whole or streamed).

As vLLM does it: `tool_choice` "auto" lets the model choose and finds its calls with the model's
`tool_parser` (a model option, e.g. `hermes` for Qwen2.5); "required" and a named function
force a call with guided JSON (vLLM's schemas), so they need a backend with json_schema support.
Unlike vLLM, "none" leaves the tools out of the prompt: a template that shows tools invites
call syntax that nobody would parse. A model without a tool_parser answers 400 to tools.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from models.chat.base import ChatBackend, SamplingOptions
from models.chat.tool_parsers import (
    ParsedToolCall,
    ToolParser,
    call_from_object,
    tool_parser,
)
from server.errors import APIError
from server.schemas.text import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    FunctionCall,
    FunctionCallDelta,
    ToolCall,
    ToolCallDelta,
)

ToolMode = Literal["none", "auto", "required", "named"]
_EMPTY_PARAMETERS = {"type": "object", "properties": {}}


def check_tools(body: ChatCompletionRequest) -> None:
    """400 for tool fields that contradict each other, whatever the model (vLLM's checks)."""
    legacy = {"functions", "function_call"} & set(body.model_extra or {})
    if legacy:
        name = sorted(legacy)[0]
        raise APIError(
            400,
            f"'{name}' is the deprecated form of function calling; use 'tools' and 'tool_choice'.",
            param=name,
            code="unsupported_parameter",
        )
    if body.tools is not None and not body.tools:
        raise APIError(400, "'tools' must not be an empty array; omit it instead.", param="tools")
    names = [tool.function.name for tool in body.tools or []]
    if len(set(names)) < len(names):
        raise APIError(400, "Every function in 'tools' needs its own name.", param="tools")
    choice = body.tool_choice
    if choice not in (None, "none") and not body.tools:
        raise APIError(
            400, "'tool_choice' is only allowed when 'tools' are given.", param="tool_choice"
        )
    if not isinstance(choice, str) and choice is not None and choice.function.name not in names:
        raise APIError(
            400,
            f"tool_choice names function '{choice.function.name}', which is not in 'tools'.",
            param="tool_choice",
        )


def template_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as chat templates read them. Call arguments become objects (templates write
    them with `tojson`; vLLM parses them the same way)."""
    rendered = []
    for i, message in enumerate(messages):
        item: dict[str, Any] = {"role": message.role, "content": message.text()}
        if message.name is not None:
            item["name"] = message.name
        if message.tool_call_id is not None:
            item["tool_call_id"] = message.tool_call_id
        if message.tool_calls:
            item["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.function.name,
                        "arguments": _arguments_object(call.function.arguments, i, j),
                    },
                }
                for j, call in enumerate(message.tool_calls)
            ]
        rendered.append(item)
    return rendered


def _arguments_object(arguments: str, message: int, call: int) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        raise APIError(
            400,
            f"The arguments of messages[{message}].tool_calls[{call}] are not valid JSON.",
            param=f"messages.{message}.tool_calls.{call}.function.arguments",
        ) from None


@dataclass(frozen=True)
class ToolPlan:
    """How one request uses tools: what the template shows, how the calls come out."""

    mode: ToolMode = "none"
    definitions: list[dict[str, Any]] | None = None  # for the chat template
    parameters: dict[str, dict[str, Any]] | None = None  # each function's argument schema
    function: str | None = None  # the forced function (named)
    parallel: bool = True
    parser: str | None = None

    @classmethod
    def of(
        cls, body: ChatCompletionRequest, backend: ChatBackend, options: Mapping[str, Any]
    ) -> ToolPlan:
        """The plan of a checked request on a model with `options`; 400 where it cannot serve it."""
        choice = body.tool_choice or ("auto" if body.tools else "none")
        if choice == "none" or not body.tools:
            return cls()
        parser = options.get("tool_parser")
        if parser is None:
            raise APIError(
                400,
                f"Model '{body.model}' does not support tool calling (its chat template and "
                "configuration name no tool call format); send the request without 'tools' or "
                "use a model with a tool_parser.",
                param="tools",
                code="tools_not_supported",
            )
        mode: ToolMode = "named" if not isinstance(choice, str) else choice
        if mode in ("named", "required"):
            if not backend.supports_json_schema:
                raise APIError(
                    400,
                    f"tool_choice '{mode}' forces a call with guided decoding, which the backend "
                    f"of model '{body.model}' does not offer; use tool_choice 'auto'.",
                    param="tool_choice",
                    code="unsupported_tool_choice",
                )
            if body.response_format is not None and body.response_format.type != "text":
                raise APIError(
                    400,
                    "A forced tool_choice and a JSON response_format cannot both shape the "
                    "answer; send one of them.",
                    param="response_format",
                )
        return cls(
            mode=mode,
            definitions=[tool.model_dump(exclude_none=True) for tool in body.tools],
            parameters={
                tool.function.name: tool.function.parameters or _EMPTY_PARAMETERS
                for tool in body.tools
            },
            function=None if isinstance(choice, str) else choice.function.name,
            parallel=body.parallel_tool_calls,
            parser=parser,
        )

    def constrain(self, options: SamplingOptions) -> SamplingOptions:
        """The sampling options with the JSON schema that forces a call (vLLM's schemas)."""
        if self.mode == "named":
            assert self.parameters is not None and self.function is not None
            return replace(options, json_schema=self.parameters[self.function])
        if self.mode == "required":
            return replace(options, json_schema=self._required_schema())
        return options

    def _required_schema(self) -> dict[str, Any]:
        """A list of {name, parameters} of the given functions; shared `$defs` go to its root so
        that each function's own `#/$defs/...` references still resolve."""
        assert self.parameters is not None
        alternatives: list[dict[str, Any]] = []
        defs: dict[str, Any] = {}
        for name, parameters in self.parameters.items():
            parameters = dict(parameters)
            own_defs = parameters.pop("$defs", {})
            for key, value in own_defs.items():
                if defs.get(key, value) != value:
                    raise APIError(
                        400, f"Two tools define '$defs/{key}' differently.", param="tools"
                    )
                defs[key] = value
            alternatives.append(
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": [name]},
                        "parameters": parameters,
                    },
                    "required": ["name", "parameters"],
                }
            )
        schema: dict[str, Any] = {
            "type": "array",
            "minItems": 1,
            "items": {"type": "object", "anyOf": alternatives},
        }
        if not self.parallel:
            schema["maxItems"] = 1
        if defs:
            schema["$defs"] = defs
        return schema

    def stream(self) -> ToolCallStream | None:
        """A finder of calls for one choice (None when tools are off)."""
        return None if self.mode == "none" else ToolCallStream(self)


class ToolCallStream:
    """The tool calls in one choice's text. `feed` takes the text as it comes and returns what
    is answer content; the calls gather in `calls`, and their OpenAI deltas wait in `take()`."""

    def __init__(self, plan: ToolPlan) -> None:
        self._plan = plan
        self._parser: ToolParser | None = None
        if plan.mode == "auto":
            assert plan.parser is not None and plan.parameters is not None
            self._parser = tool_parser(plan.parser, plan.parameters)
        self._text = ""  # a forced call's JSON so far
        self._unsent: list[ToolCallDelta] = []
        self.calls: list[ToolCall] = []

    def feed(self, text: str, finish_reason: str | None) -> str:
        """The content in `text`; `finish_reason` set on the choice's last piece."""
        done = finish_reason is not None
        if self._parser is not None:
            found = self._parser.feed(text)
            content, calls = found.content, list(found.calls)
            if done:
                tail = self._parser.finish()
                content, calls = content + tail.content, calls + list(tail.calls)
            for call in calls:
                self._add(call)
            return content
        self._text += text
        if self._plan.mode == "named":
            return self._stream_named(text)
        if done:
            return self._finish_required()
        return ""

    def _stream_named(self, text: str) -> str:
        """The whole text is the forced function's arguments: sent on as it comes, like vLLM."""
        assert self._plan.function is not None
        if not self.calls:
            call = ToolCall(
                id=_call_id(), function=FunctionCall(name=self._plan.function, arguments="")
            )
            self.calls.append(call)
            self._unsent.append(
                ToolCallDelta(
                    index=0,
                    id=call.id,
                    type="function",
                    function=FunctionCallDelta(name=call.function.name, arguments=text),
                )
            )
        elif text:
            self._unsent.append(ToolCallDelta(index=0, function=FunctionCallDelta(arguments=text)))
        self.calls[0].function.arguments = self._text
        return ""

    def _finish_required(self) -> str:
        """The guided JSON list of {name, parameters}; kept as content if it never closed."""
        try:
            items = json.loads(self._text)
        except ValueError:
            items = None
        calls = [call_from_object(item) for item in items] if isinstance(items, list) else []
        if not calls or None in calls:
            return self._text  # cut short (length): the caller sees what there is
        for call in calls:
            assert call is not None
            self._add(call)
        return ""

    def _add(self, call: ParsedToolCall) -> None:
        if self.calls and not self._plan.parallel:
            return  # parallel_tool_calls=false: the first call only
        made = ToolCall(
            id=_call_id(), function=FunctionCall(name=call.name, arguments=call.arguments)
        )
        self._unsent.append(
            ToolCallDelta(
                index=len(self.calls),
                id=made.id,
                type="function",
                function=FunctionCallDelta(name=call.name, arguments=call.arguments),
            )
        )
        self.calls.append(made)

    def take(self) -> list[ToolCallDelta] | None:
        """The call deltas not yet sent (None when there are none)."""
        unsent, self._unsent = self._unsent, []
        return unsent or None

    @property
    def has_unsent(self) -> bool:
        return bool(self._unsent)

    def finish_reason(self, reason: str | None) -> str | None:
        """OpenAI's: "tool_calls" when the model stopped after calling (auto, required); a
        named call ends with "stop", as OpenAI and vLLM answer it."""
        if reason == "stop" and self.calls and self._plan.mode != "named":
            return "tool_calls"
        return reason


def assistant_message(
    content: str, reasoning: str | None, tools: ToolCallStream | None
) -> AssistantMessage:
    """The message of a finished choice: its calls, and content null when it only called."""
    calls = tools.calls if tools is not None else []
    return AssistantMessage(
        content=content if content or not calls else None,
        reasoning_content=reasoning,
        tool_calls=calls or None,
    )


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"
