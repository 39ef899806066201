"""Tool calling and structured output through the client libraries people use (the official openai
client, LangChain, LiteLLM), against the real default chat model on a live server, offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from pipelines.settings import DEFAULT_CONFIG, load_settings
from server.app import create_app
from tests import netguard
from tests.fixtures_real import models_cache_dir
from tests.live import live_server

pytestmark = pytest.mark.real_weights

MODEL = "qwen2.5-coder-1.5b-instruct"  # the default config's chat model
SEEDED: Any = {"temperature": 0, "seed": 1}
ASK: Any = [{"role": "user", "content": "What's the weather like in Paris today?"}]


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str = Field(description="The city, e.g. Paris")
    unit: Literal["celsius", "fahrenheit"] = Field(description="Temperature unit")


class Product(BaseModel):
    """A product listing."""

    name: str
    price_usd: float
    colours: list[str]


WEATHER: Any = openai.pydantic_function_tool(GetWeather, name="get_weather")
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "e.g. Europe/Paris"}},
            "required": ["timezone"],
        },
    },
}
PRODUCT_ASK = "Steel bottle, USD 3.20, in red and blue. Give me the product listing."


@pytest.fixture(scope="module")
def base_url(qwen_default_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shipped default config on the fetched weights; only its chat model gets loaded."""
    settings = load_settings(
        DEFAULT_CONFIG, model_dir=models_cache_dir(), data_dir=tmp_path_factory.mktemp("data")
    )
    settings.registry.preload = []
    with live_server(create_app(settings)) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=900)


def arguments_of(call: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments, parsed and checked against the function's schema."""
    arguments: dict[str, Any] = json.loads(call.function.arguments)
    jsonschema.validate(arguments, parameters)
    return arguments


# --- the official openai client ------------------------------------------------------------
def test_openai_client_gets_a_weather_call_whose_arguments_fit_the_schema_then_an_answer(
    client: openai.OpenAI,
) -> None:
    first = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        **SEEDED,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert arguments_of(call, WEATHER["function"]["parameters"])["city"] == "Paris"

    result = {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 18, "sky": "sunny"}'}
    history: Any = [*ASK, choice.message.model_dump(exclude_none=True), result]
    # the 1.5B model calls again when it still sees the tools; "none" asks for the answer
    answer = client.chat.completions.create(
        model=MODEL,
        messages=history,
        tools=[WEATHER, TIME],
        tool_choice="none",
        **SEEDED,
    )
    assert answer.choices[0].message.tool_calls is None
    assert "18" in (answer.choices[0].message.content or "")


def test_openai_client_forces_a_named_tool_or_any_tool(client: openai.OpenAI) -> None:
    named = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        **SEEDED,
    )
    [call] = named.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"
    arguments_of(call, TIME["function"]["parameters"])
    assert named.choices[0].finish_reason == "stop"  # OpenAI's answer to a named tool_choice

    required = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice="required",
        **SEEDED,
    )
    calls = required.choices[0].message.tool_calls or []
    assert calls and required.choices[0].finish_reason == "tool_calls"
    schemas = {
        "get_weather": WEATHER["function"]["parameters"],
        "get_time": TIME["function"]["parameters"],
    }
    for call in calls:
        arguments_of(call, schemas[call.function.name])


def test_openai_client_reassembles_a_call_streamed_in_pieces(client: openai.OpenAI) -> None:
    # a named call streams its arguments token by token (an auto call comes in one delta)
    with client.chat.completions.stream(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        **SEEDED,
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert events.count("tool_calls.function.arguments.delta") > 3
    [call] = final.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert call.function.parsed_arguments.city == "Paris"


# --- LangChain ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def langchain_model(base_url: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL,
        base_url=base_url,
        api_key="unused",
        max_retries=0,
        **SEEDED,
    )


def test_langchain_bind_tools_gets_a_tool_call_and_streams_it_in_chunks(
    langchain_model: Any,
) -> None:
    bound = langchain_model.bind_tools([GetWeather])
    message = bound.invoke(ASK[0]["content"])
    [call] = message.tool_calls
    assert call["name"] == "GetWeather" and GetWeather.model_validate(call["args"]).city == "Paris"

    chunks = list(bound.stream(ASK[0]["content"]))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert [c["args"] for c in merged.tool_calls] == [call["args"]]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_langchain_structured_output_returns_the_parsed_object(
    langchain_model: Any, method: str
) -> None:
    structured = langchain_model.with_structured_output(Product, method=method)
    product = structured.invoke(PRODUCT_ASK)
    assert isinstance(product, Product)
    assert product.price_usd == pytest.approx(3.2)


# --- LiteLLM -----------------------------------------------------------------------------
def test_litellm_completion_with_tools_gets_the_call_without_leaving_the_machine(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # its price table ships in the package; otherwise import fetches it from GitHub
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_TELEMETRY", "False")
    import litellm

    netguard.connects.clear()
    response = litellm.completion(
        model=f"openai/{MODEL}",
        api_base=base_url,
        api_key="unused",
        messages=ASK,
        tools=[WEATHER],
        **SEEDED,
    )
    [call] = response.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert arguments_of(call, WEATHER["function"]["parameters"])["city"] == "Paris"
    assert not [a for a in netguard.connects if not netguard.is_loopback(a[0])]
