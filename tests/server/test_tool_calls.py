"""Tool calling: the parser that finds calls in a model's text, the OpenAI-shaped calls and
deltas, and the request checks over HTTP on the tiny transformers model."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from models.chat.base import SamplingOptions
from models.chat.tool_parsers import ParsedToolCall, parse_tool_calls, tool_parser
from models.spec import ModelSpec
from server.schemas.text import ChatCompletionRequest, ChatMessage
from server.serving_tools import ToolCallStream, ToolPlan, template_messages
from tests.fixtures_server import AppClient, assert_error

CHAT = "/v1/chat/completions"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}  # no parameters at all
# Bounded arguments: a random model closes a free string only by chance, an enum always.
PICK = {
    "type": "function",
    "function": {
        "name": "pick_colour",
        "parameters": {
            "type": "object",
            "properties": {
                "colour": {"enum": ["red", "green", "blue"]},
                "count": {"type": "integer", "minimum": 1, "maximum": 9},
            },
            "required": ["colour", "count"],
            "additionalProperties": False,
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = {"get_weather", "get_time"}
PARIS = ParsedToolCall("get_weather", '{"city": "Paris"}')
ROME = ParsedToolCall("get_weather", '{"city": "Rome"}')

# A tools-aware ChatML template for the tiny model (its own template ignores tools).
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}"
    "</tools><|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{{ m.content }}{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}"
    "</tool_call>{% endfor %}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)


# --- the hermes parser ----------------------------------------------------------------------
PARSED = [
    # Hermes tags, the text before them is the content
    (
        'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n'
        "</tool_call>",
        "Let me look.\n",
        (PARIS, ROME),
    ),
    # what Qwen2.5-Coder writes more often: a ```json block, or the bare object
    (
        '```json\n{\n  "name": "get_weather",\n  "arguments": {"city": "Paris"}\n}\n```',
        "",
        (PARIS,),
    ),
    ('{"name": "get_weather", "arguments": {"city": "Paris"}}', "", (PARIS,)),
    (
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", '
        '"arguments": {"city": "Rome"}}]',
        "",
        (PARIS, ROME),
    ),
    # arguments written as a JSON string, and a call whose closing tag never came
    ('<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}', "", (PARIS,)),
    # not calls: kept verbatim as content
    (
        "It is sunny. a < b, `x`, [a link](http://x)",
        "It is sunny. a < b, `x`, [a link](http://x)",
        (),
    ),
    (
        '<tool_call>{"name": "launch", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "launch", "arguments": {}}</tool_call>',
        (),
    ),
    ('Data: ```json\n{"city": "Paris"}\n``` ok', 'Data: ```json\n{"city": "Paris"}\n``` ok', ()),
    ("```python\nprint(1)\n```", "```python\nprint(1)\n```", ()),
    ('{"city": "Paris"}', '{"city": "Paris"}', ()),
    ("<tool_call>{not json</tool_call>", "<tool_call>{not json</tool_call>", ()),
]


@pytest.mark.parametrize(("text", "content", "calls"), PARSED)
def test_hermes_parser_finds_calls_to_offered_functions_and_keeps_the_rest_as_content(
    text: str, content: str, calls: tuple[ParsedToolCall, ...]
) -> None:
    parsed = parse_tool_calls(text, "hermes", TOOLS)
    assert (parsed.content, parsed.calls) == (content, calls)


@pytest.mark.parametrize("size", [1, 2, 5])
@pytest.mark.parametrize(("text", "content", "calls"), PARSED)
def test_hermes_parser_gives_the_same_answer_on_a_stream_cut_anywhere(
    text: str, content: str, calls: tuple[ParsedToolCall, ...], size: int
) -> None:
    parser = tool_parser("hermes", TOOLS)
    pieces = [parser.feed(text[i : i + size]) for i in range(0, len(text), size)]
    pieces.append(parser.finish())
    assert "".join(p.content for p in pieces) == content
    assert tuple(call for p in pieces for call in p.calls) == calls


def test_hermes_parser_streams_content_at_once_and_holds_back_only_a_possible_tag() -> None:
    parser = tool_parser("hermes", TOOLS)
    assert parser.feed("The answer").content == "The answer"
    assert parser.feed(" is <tool_").content == " is "
    assert parser.feed('call>{"name": "get_weather", "arguments": {"city": "Pa').content == ""
    assert parser.feed('ris"}}</tool_call>').calls == (PARIS,)
    assert parser.feed(" trailing words after a call are dropped").content == ""


# --- the OpenAI side: forced-call schemas, calls and deltas ---------------------------------
def plan(**request: Any) -> ToolPlan:
    body = ChatCompletionRequest.model_validate({"model": "m", "messages": ASK} | request)

    class JsonBackend:
        supports_json_schema = True

    return ToolPlan.of(body, JsonBackend(), {"tool_parser": "hermes"})  # type: ignore[arg-type]


def test_a_named_tool_choice_constrains_the_answer_to_that_functions_arguments() -> None:
    forced = plan(
        tools=[WEATHER, CLOCK], tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    assert forced.constrain(SamplingOptions(max_tokens=9)).json_schema == {
        "type": "object",
        "properties": {},
    }


@pytest.mark.parametrize("parallel", [True, False])
def test_required_constrains_the_answer_to_a_list_of_offered_calls(parallel: bool) -> None:
    schema = plan(tools=[WEATHER, CLOCK], tool_choice="required", parallel_tool_calls=parallel)
    schema_of = schema.constrain(SamplingOptions(max_tokens=9)).json_schema
    assert schema_of is not None
    paris = {"name": "get_weather", "parameters": {"city": "Paris"}}
    jsonschema.validate(
        [paris, {"name": "get_time", "parameters": {}}] if parallel else [paris], schema_of
    )
    for wrong in (
        [],
        [{"name": "launch", "parameters": {}}],
        [{"name": "get_weather", "parameters": {}}],
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema_of)
    if not parallel:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate([paris, paris], schema_of)


def test_required_moves_each_tools_defs_to_the_root_so_references_resolve() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "ship",
            "parameters": {
                "type": "object",
                "properties": {"to": {"$ref": "#/$defs/address"}},
                "required": ["to"],
                "$defs": {"address": {"type": "object", "required": ["city"]}},
            },
        },
    }
    schema = (
        plan(tools=[tool], tool_choice="required")
        .constrain(SamplingOptions(max_tokens=9))
        .json_schema
    )
    assert schema is not None
    jsonschema.validate([{"name": "ship", "parameters": {"to": {"city": "Oslo"}}}], schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"name": "ship", "parameters": {"to": {}}}], schema)


def stream_through(calls: ToolCallStream, pieces: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """The content and the OpenAI tool_calls deltas of a choice whose text comes in `pieces`."""
    content, deltas = "", []
    for i, piece in enumerate(pieces):
        content += calls.feed(piece, "stop" if i == len(pieces) - 1 else None)
        deltas += [d.model_dump(exclude_none=True) for d in calls.take() or []]
    return content, deltas


def test_a_named_call_streams_its_arguments_as_they_come_and_ends_with_stop() -> None:
    forced = plan(
        tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    calls = forced.stream()
    assert calls is not None
    content, deltas = stream_through(calls, ['{"city"', ': "Par', 'is"}'])
    assert content == ""
    assert deltas[0]["id"].startswith("call_") and deltas[0]["type"] == "function"
    assert deltas[0]["function"]["name"] == "get_weather"
    assert all(set(d) == {"index", "function"} for d in deltas[1:])
    assert "".join(d["function"]["arguments"] for d in deltas) == '{"city": "Paris"}'
    assert calls.calls[0].function.arguments == '{"city": "Paris"}'
    assert calls.finish_reason("stop") == "stop"  # as OpenAI answers a named tool_choice


def test_required_calls_come_whole_at_the_end_with_finish_reason_tool_calls() -> None:
    calls = plan(tools=[WEATHER], tool_choice="required").stream()
    assert calls is not None
    text = '[{"name": "get_weather", "parameters": {"city": "Paris"}}]'
    content, deltas = stream_through(calls, [text[:20], text[20:]])
    assert content == "" and [d["function"] for d in deltas] == [
        {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert calls.finish_reason("stop") == "tool_calls"
    assert calls.finish_reason("length") == "length"


def test_required_json_cut_short_is_returned_as_content_not_lost() -> None:
    calls = plan(tools=[WEATHER], tool_choice="required").stream()
    assert calls is not None
    assert stream_through(calls, ['[{"name": "get_we']) == ('[{"name": "get_we', [])


def test_parallel_tool_calls_false_keeps_only_the_first_call() -> None:
    calls = plan(tools=[WEATHER], parallel_tool_calls=False).stream()
    assert calls is not None
    text = PARSED[0][0]
    content, deltas = stream_through(calls, [text])
    assert content == "Let me look.\n"
    assert [(d["index"], d["function"]["arguments"]) for d in deltas] == [(0, '{"city": "Paris"}')]
    assert calls.finish_reason("stop") == "tool_calls"


def test_tool_choice_none_leaves_the_tools_out_of_the_prompt() -> None:
    none = plan(tools=[WEATHER], tool_choice="none")
    assert none.definitions is None and none.stream() is None


def test_history_calls_reach_the_template_with_arguments_as_objects() -> None:
    history = [
        ChatMessage.model_validate(m)
        for m in [
            *ASK,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 18}'},
        ]
    ]
    rendered = template_messages(history)
    assert rendered[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert rendered[2] == {"role": "tool", "content": '{"celsius": 18}', "tool_call_id": "call_1"}


# --- over HTTP, on the tiny transformers model ---------------------------------------------
def with_tools(spec: ModelSpec) -> ModelSpec:
    """The tiny model configured for tools: a hermes parser and a template that shows them
    (and compact guided JSON, which a random model would otherwise pad with whitespace)."""
    options = spec.options | {
        "tool_parser": "hermes",
        "chat_template": TOOLS_TEMPLATE,
        "disable_any_whitespace": True,
    }
    return spec.model_copy(update={"id": "tiny-tools", "options": options})


def chat(model: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": ASK, "max_tokens": 4, "temperature": 0, "seed": 1} | fields


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": "auto"}, "tool_choice"),
        (
            {
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "launch"}},
            },
            "tool_choice",
        ),
        ({"tools": []}, "tools"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"functions": [WEATHER["function"]]}, "functions"),
        ({"tools": [{"type": "retrieval"}]}, "tools.0.type"),
    ],
)
async def test_contradictory_tool_fields_are_a_400_naming_the_field(
    app_client: AppClient, tiny_chat_spec: ModelSpec, fields: dict[str, Any], param: str
) -> None:
    async with app_client([with_tools(tiny_chat_spec)]) as client:
        assert_error(await client.post(CHAT, json=chat("tiny-tools", **fields)), 400, param=param)


async def test_a_model_without_a_tool_parser_refuses_tools_unless_tool_choice_is_none(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    async with app_client([tiny_chat_spec]) as client:
        refused = await client.post(CHAT, json=chat("tiny-chat", tools=[WEATHER]))
        assert_error(refused, 400, "tools_not_supported", param="tools")
        plain = await client.post(CHAT, json=chat("tiny-chat"))
        none = await client.post(CHAT, json=chat("tiny-chat", tools=[WEATHER], tool_choice="none"))
        assert none.status_code == 200, none.text
        assert none.json()["choices"][0] == plain.json()["choices"][0]


@pytest.mark.parametrize(
    ("choice", "finish_reason"),
    [
        ("required", "tool_calls"),
        ({"type": "function", "function": {"name": "pick_colour"}}, "stop"),
    ],
)
async def test_a_forced_call_on_transformers_is_guided_json_whose_arguments_validate(
    app_client: AppClient, tiny_chat_spec: ModelSpec, choice: Any, finish_reason: str
) -> None:
    async with app_client([with_tools(tiny_chat_spec)]) as client:
        forced = await client.post(
            CHAT,
            json=chat(
                "tiny-tools",
                tools=[PICK],
                tool_choice=choice,
                max_tokens=64,
                parallel_tool_calls=False,
            ),
        )
        assert forced.status_code == 200, forced.text
        answer = forced.json()["choices"][0]
        assert answer["finish_reason"] == finish_reason and answer["message"]["content"] is None
        (call,) = answer["message"]["tool_calls"]
        assert call["function"]["name"] == "pick_colour"
        parameters = PICK["function"]["parameters"]  # type: ignore[index]
        jsonschema.validate(json.loads(call["function"]["arguments"]), parameters)


async def test_auto_shows_the_tools_to_the_model_and_answers_plain_text_without_calls(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    async with app_client([with_tools(tiny_chat_spec)]) as client:
        plain = (await client.post(CHAT, json=chat("tiny-tools"))).json()
        auto = await client.post(CHAT, json=chat("tiny-tools", tools=[WEATHER, CLOCK]))
        assert auto.status_code == 200, auto.text
        body = auto.json()
        assert body["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 20
        choice = body["choices"][0]
        assert choice["message"]["tool_calls"] is None and choice["finish_reason"] == "length"


async def test_a_conversation_with_calls_and_results_is_rendered_and_bad_arguments_are_a_400(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    def history(arguments: str) -> list[dict[str, Any]]:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        return [
            *ASK,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"celsius": 18})},
        ]

    async with app_client([with_tools(tiny_chat_spec)]) as client:
        ok = await client.post(
            CHAT, json=chat("tiny-tools", tools=[WEATHER], messages=history('{"city": "Paris"}'))
        )
        assert ok.status_code == 200, ok.text
        bad = await client.post(
            CHAT, json=chat("tiny-tools", tools=[WEATHER], messages=history("{city"))
        )
        assert_error(bad, 400, param="messages.1.tool_calls.0.function.arguments")


def test_an_unknown_tool_parser_in_the_config_fails_at_start_up() -> None:
    with pytest.raises(ValidationError, match="unknown tool_parser 'hermse'"):
        ModelSpec(id="typo", kind="chat", backend="llama.cpp", options={"tool_parser": "hermse"})
