"""response_format json_object and json_schema on the transformers engine, over HTTP: the tiny
random-weight model writes valid JSON only because the grammar (xgrammar) allows nothing else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
import pytest_asyncio

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_server import assert_error, make_settings, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHAT = "/v1/chat/completions"
ASK = [{"role": "user", "content": "Describe a water bottle as JSON."}]
SCHEMA = {
    "type": "object",
    "properties": {
        "colour": {"enum": ["red", "green", "blue"]},
        # a pattern, not maxLength: xgrammar 0.2.8 lets control characters into length-limited
        # strings, which a random model then writes (invalid JSON)
        "name": {"type": "string", "pattern": "^[a-z ]{1,8}$"},
        "stock": {"type": "integer", "minimum": 0, "maximum": 99},
    },
    "required": ["colour", "name", "stock"],
    "additionalProperties": False,
}
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "bottle", "schema": SCHEMA}}
SEEDS = range(4)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tiny_chat_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    # compact JSON: a random model would otherwise fill the answer with whitespace
    options = tiny_chat_spec.options | {"disable_any_whitespace": True}
    spec = tiny_chat_spec.model_copy(update={"options": options})
    app = create_app(make_settings(tmp_path_factory.mktemp("json-modes"), [spec]))
    async with running(app) as c:
        yield c


async def chat(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"model": "tiny-chat", "messages": ASK, "max_tokens": 96} | fields
    response = await client.post(CHAT, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json()["choices"][0])


@pytest.mark.parametrize("seed", SEEDS)
async def test_json_schema_answers_parse_and_validate(client: httpx.AsyncClient, seed: int) -> None:
    answer = await chat(client, seed=seed, response_format=SCHEMA_FORMAT)
    assert answer["finish_reason"] == "stop"
    jsonschema.validate(json.loads(answer["message"]["content"]), SCHEMA)


async def test_json_object_answers_that_end_are_objects_and_the_rest_are_json_so_far(
    client: httpx.AsyncClient,
) -> None:
    answers = [
        await chat(client, seed=seed, response_format={"type": "json_object"}) for seed in range(8)
    ]
    texts: dict[str, list[str]] = {"stop": [], "length": []}
    for a in answers:
        texts[a["finish_reason"]].append(a["message"]["content"])
    assert all(texts.values()), "some seeds close their object within max_tokens, some do not"
    assert all(isinstance(json.loads(text), dict) for text in texts["stop"])
    # cut off by max_tokens: still the start of an object (nothing before it, no whitespace)
    assert all(text.startswith('{"') for text in texts["length"])


async def test_a_streamed_json_schema_answer_is_the_same_json(client: httpx.AsyncClient) -> None:
    whole = await chat(client, seed=1, response_format=SCHEMA_FORMAT)
    body = {"model": "tiny-chat", "messages": ASK, "max_tokens": 96, "seed": 1, "stream": True}
    streamed = await client.post(CHAT, json=body | {"response_format": SCHEMA_FORMAT})
    lines = [line[6:] for line in streamed.text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line)["choices"][0] for line in lines[:-1]]
    assert "".join(c["delta"].get("content") or "" for c in chunks) == whole["message"]["content"]
    assert chunks[-1]["finish_reason"] == "stop"


async def test_a_schema_the_grammar_cannot_compile_is_a_400(client: httpx.AsyncClient) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}
    response = await client.post(
        CHAT, json={"model": "tiny-chat", "messages": ASK, "max_tokens": 8, "response_format": bad}
    )
    assert_error(response, 400)


async def test_a_json_schema_response_format_needs_its_schema(client: httpx.AsyncClient) -> None:
    missing = {"type": "json_schema", "json_schema": {"name": "x"}}
    response = await client.post(
        CHAT,
        json={"model": "tiny-chat", "messages": ASK, "max_tokens": 8, "response_format": missing},
    )
    assert_error(response, 400, param="response_format.json_schema")
