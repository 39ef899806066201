"""Token log-probabilities (chat `logprobs`/`top_logprobs`, completions `logprobs`) over HTTP, on
the tiny transformers model and the real Qwen2.5 0.5B on llama.cpp: OpenAI's shapes, one entry
per generated token, the same streamed and whole, and read by the official openai client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
import pytest_asyncio
from fastapi import FastAPI

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_server import assert_error, make_settings, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
ASK = [{"role": "user", "content": "Write a short product description for a water bottle."}]
FORBIDDEN = -9999.0  # what a token the JSON grammar forbids is given (JSON has no -inf)


@pytest.fixture(scope="module")
def tiny_app(tiny_chat_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    options = tiny_chat_spec.options | {"disable_any_whitespace": True}
    spec = tiny_chat_spec.model_copy(update={"options": options})
    return create_app(make_settings(tmp_path_factory.mktemp("lp"), [spec]))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tiny(tiny_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(tiny_app) as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def qwen(
    qwen_small_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    spec = ModelSpec(
        id="qwen-small",
        kind="chat",
        backend="llama.cpp",
        path=str(qwen_small_dir),
        licence="Apache-2.0",
        memory_gb=0.8,
        options={"max_batch_size": 2, "context_length": 1024, "threads": 1},
    )
    async with running(create_app(make_settings(tmp_path_factory.mktemp("lp"), [spec]))) as c:
        yield c


@pytest.fixture(
    params=["tiny-chat", pytest.param("qwen-small", marks=pytest.mark.real_weights)],
)
def served(request: pytest.FixtureRequest) -> tuple[httpx.AsyncClient, str]:
    """(client, model) for each engine under test."""
    fixture = "tiny" if request.param == "tiny-chat" else "qwen"
    return request.getfixturevalue(fixture), request.param


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def stream(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """The choices of every chunk of a streamed answer."""
    response = await client.post(path, json=body | {"stream": True})
    lines = [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line)["choices"][0] for line in lines[:-1]]


def check_chat_logprobs(
    reply: dict[str, Any], top: int, *, tokens_make_the_text: bool = True
) -> list[dict[str, Any]]:
    """The spec of a chat answer's logprobs; returns its entries. `tokens_make_the_text`: each
    token's text is what it added to the answer (vLLM decodes each token alone instead, which
    tells nothing for bytes that never make a character, as a random model writes them)."""
    choice = reply["choices"][0]
    entries = choice["logprobs"]["content"]
    assert len(entries) == reply["usage"]["completion_tokens"]
    tokens = [entry["token"] for entry in entries]
    ended_by_token = choice["finish_reason"] == "stop"  # its entry: the token's own text
    if tokens_make_the_text:
        assert "".join(tokens[:-1] if ended_by_token else tokens) == choice["message"]["content"]
    for entry in entries:
        assert entry["logprob"] <= 0 and entry["bytes"] == list(entry["token"].encode())
        likeliest = [alt["logprob"] for alt in entry["top_logprobs"]]
        assert len(likeliest) == top and likeliest == sorted(likeliest, reverse=True)
        assert all(alt["bytes"] == list(alt["token"].encode()) for alt in entry["top_logprobs"])
        if top:  # the sampled token is one of the likeliest, or less likely than all of them
            assert entry["logprob"] in likeliest or entry["logprob"] <= likeliest[-1]
    return list(entries)


async def test_greedy_chat_logprobs_give_each_token_and_its_steps_likeliest(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    client, model = served
    body = {"model": model, "messages": ASK, "max_tokens": 12, "temperature": 0}
    reply = await post(client, CHAT, body | {"logprobs": True, "top_logprobs": 3})
    for entry in check_chat_logprobs(reply, top=3):
        assert entry["logprob"] == entry["top_logprobs"][0]["logprob"]  # greedy: the likeliest
    plain = await post(client, CHAT, body)
    assert plain["choices"][0]["logprobs"] is None
    assert plain["choices"][0]["message"] == reply["choices"][0]["message"]


async def test_seeded_chat_logprobs_are_the_same_streamed_and_whole(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    client, model = served
    body = {"model": model, "messages": ASK, "max_tokens": 12, "seed": 7, "logprobs": True}
    whole = await post(client, CHAT, body | {"top_logprobs": 2})
    entries = check_chat_logprobs(whole, top=2)
    chunks = await stream(client, CHAT, body | {"top_logprobs": 2})
    streamed = [e for c in chunks if c.get("logprobs") for e in c["logprobs"]["content"]]
    assert streamed == entries
    assert (
        "".join(c["delta"].get("content") or "" for c in chunks)
        == (whole["choices"][0]["message"]["content"])
    )
    without_top = await post(client, CHAT, body)  # logprobs alone: no alternatives
    assert [e["top_logprobs"] for e in check_chat_logprobs(without_top, top=0)] == [[]] * len(
        entries
    )


async def test_completion_logprobs_are_openais_legacy_shape_streamed_and_whole(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    client, model = served
    body = {"model": model, "prompt": "Water bottles are", "max_tokens": 10, "logprobs": 2}
    greedy = await post(client, COMPLETIONS, body | {"temperature": 0})
    choice = greedy["choices"][0]
    shape = choice["logprobs"]
    tokens = shape["tokens"]
    assert len(tokens) == greedy["usage"]["completion_tokens"] == len(shape["top_logprobs"])
    ended_by_token = choice["finish_reason"] == "stop"
    assert "".join(tokens[:-1] if ended_by_token else tokens) == choice["text"]
    assert shape["text_offset"] == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    for token, logprob, top in zip(
        tokens, shape["token_logprobs"], shape["top_logprobs"], strict=True
    ):
        # the 2 likeliest and the sampled token; greedy: it is the likeliest of them
        assert 2 <= len(top) <= 3 and top[token] == logprob == max(top.values()) <= 0
    seeded = body | {"seed": 3}
    whole = (await post(client, COMPLETIONS, seeded))["choices"][0]["logprobs"]
    chunks = await stream(client, COMPLETIONS, seeded)
    parts = [c["logprobs"] for c in chunks if c.get("logprobs")]
    assert {key: [v for part in parts for v in part[key]] for key in whole} == whole


async def test_a_grammar_forced_token_has_probability_one_and_forbidden_ones_the_floor(
    tiny: httpx.AsyncClient,
) -> None:
    fmt = {"type": "json_object"}
    body = {"model": "tiny-chat", "messages": ASK, "max_tokens": 4, "temperature": 0}
    reply = await post(
        tiny, CHAT, body | {"response_format": fmt, "logprobs": True, "top_logprobs": 2}
    )
    first = reply["choices"][0]["logprobs"]["content"][0]  # a JSON object can only open with "{"
    assert (first["token"], first["logprob"]) == ("{", 0.0)
    assert [alt["logprob"] for alt in first["top_logprobs"]] == [0.0, FORBIDDEN]


@pytest.mark.parametrize(
    ("path", "fields", "param"),
    [
        (CHAT, {"top_logprobs": 2}, "top_logprobs"),
        (CHAT, {"logprobs": False, "top_logprobs": 0}, "top_logprobs"),
        (CHAT, {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        (COMPLETIONS, {"logprobs": 6}, "logprobs"),
        (COMPLETIONS, {"logprobs": 1, "echo": True}, "echo"),
    ],
)
async def test_logprob_requests_openai_refuses_are_a_400_naming_the_field(
    tiny: httpx.AsyncClient, path: str, fields: dict[str, Any], param: str
) -> None:
    prompt = {"messages": ASK} if path == CHAT else {"prompt": "Bottles"}
    response = await tiny.post(path, json={"model": "tiny-chat", "max_tokens": 2} | prompt | fields)
    assert_error(response, 400, param=param)


async def test_the_openai_client_reads_chat_logprobs(
    tiny: httpx.AsyncClient, tiny_app: FastAPI
) -> None:
    # the app runs already (`tiny`); the client speaks to it in process, over its own httpx
    transport = httpx2.ASGITransport(app=tiny_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://localhost") as http_client:
        client = openai.AsyncOpenAI(
            base_url="http://localhost/v1", api_key="unused", http_client=http_client, max_retries=0
        )
        reply = await client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=5,
            seed=1,
            logprobs=True,
            top_logprobs=2,
        )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert reply.usage is not None and len(logprobs.content) == reply.usage.completion_tokens
    assert all(len(entry.top_logprobs) == 2 for entry in logprobs.content)
    assert all(entry.logprob <= 0 and entry.bytes is not None for entry in logprobs.content)
