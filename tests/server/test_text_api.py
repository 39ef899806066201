"""The OpenAI text API over HTTP, served by the real transformers engine on a tiny model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_server import AppClient, assert_error, make_settings
from tests.live import live_server

CHAT = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "Write a title for a steel water bottle"}]


def sse_events(body: str) -> list[Any]:
    lines = [
        line.removeprefix("data: ") for line in body.split("\n\n") if line.startswith("data: ")
    ]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


async def test_models_are_listed_with_licence_and_found_by_id_or_alias(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    spec = tiny_chat_spec.model_copy(update={"aliases": ["default"]})
    async with app_client([spec]) as client:
        listed = (await client.get("/v1/models")).json()
        assert listed["object"] == "list"
        card = listed["data"][0]
        assert (card["id"], card["object"], card["licence"], card["kind"]) == (
            "tiny-chat",
            "model",
            "Apache-2.0",
            "chat",
        )
        assert (await client.get("/v1/models/default")).json()["id"] == "tiny-chat"
        assert_error(await client.get("/v1/models/gpt-5"), 404, param="model")


async def test_chat_completion_counts_tokens_and_stops_at_max_tokens(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    async with app_client([tiny_chat_spec]) as client:
        r = await client.post(
            CHAT, json={"model": "tiny-chat", "messages": HELLO, "max_tokens": 7, "temperature": 0}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        choice = body["choices"][0]
        assert choice["message"]["role"] == "assistant"
        assert choice["finish_reason"] == "length"
        usage = body["usage"]
        assert usage["completion_tokens"] == 7
        assert usage["prompt_tokens"] > 5
        assert usage["total_tokens"] == usage["prompt_tokens"] + 7


async def test_chat_stream_sends_role_deltas_finish_reason_usage_and_done(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    request = {
        "model": "tiny-chat",
        "messages": HELLO,
        "max_tokens": 6,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with app_client([tiny_chat_spec]) as client:
        streamed = await client.post(CHAT, json=request)
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = sse_events(streamed.text)
        whole = (await client.post(CHAT, json=request | {"stream": False})).json()
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    finishes = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    assert finishes[-1] == "length" and all(f is None for f in finishes[:-1])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 6
    # the streamed text is the same answer the non-streamed request gets
    assert text == whole["choices"][0]["message"]["content"]


async def test_same_seed_gives_same_text_and_n_gives_distinct_choices(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    request = {
        "model": "tiny-chat",
        "messages": HELLO,
        "max_tokens": 12,
        "temperature": 1.0,
        "seed": 42,
    }
    async with app_client([tiny_chat_spec]) as client:
        first, second = await asyncio.gather(
            client.post(CHAT, json=request), client.post(CHAT, json=request)
        )
        many = (await client.post(CHAT, json=request | {"n": 3})).json()
    assert first.json()["choices"][0]["message"] == second.json()["choices"][0]["message"]
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    assert many["choices"][0]["message"] == first.json()["choices"][0]["message"]
    assert len({c["message"]["content"] for c in many["choices"]}) > 1
    assert many["usage"]["completion_tokens"] == 36


async def test_stop_string_cuts_the_answer_before_it(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    request = {"model": "tiny-chat", "messages": HELLO, "max_tokens": 20, "temperature": 0}
    async with app_client([tiny_chat_spec]) as client:
        full = (await client.post(CHAT, json=request)).json()["choices"][0]["message"]["content"]
        stop = full[len(full) // 2 : len(full) // 2 + 2]
        assert stop.strip(), f"need a visible stop string from {full!r}"
        cut = (await client.post(CHAT, json=request | {"stop": [stop]})).json()["choices"][0]
        streamed = sse_events(
            (await client.post(CHAT, json=request | {"stop": stop, "stream": True})).text
        )
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == full[: full.index(stop)]
    streamed_text = "".join(e["choices"][0]["delta"].get("content") or "" for e in streamed)
    assert streamed_text == cut["message"]["content"]


async def test_reasoning_model_puts_unclosed_thinking_into_reasoning_content(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    """With the deepseek_r1 parser, output with no </think> is all reasoning (vLLM's semantics)."""
    thinker = tiny_chat_spec.model_copy(
        update={
            "id": "tiny-r1",
            "options": tiny_chat_spec.options | {"reasoning_parser": "deepseek_r1"},
        }
    )
    request = {"messages": HELLO, "max_tokens": 10, "temperature": 0}
    async with app_client([tiny_chat_spec, thinker]) as client:
        plain = (await client.post(CHAT, json=request | {"model": "tiny-chat"})).json()
        split = (await client.post(CHAT, json=request | {"model": "tiny-r1"})).json()
        streamed = sse_events(
            (await client.post(CHAT, json=request | {"model": "tiny-r1", "stream": True})).text
        )
    answer = plain["choices"][0]["message"]["content"]
    assert plain["choices"][0]["message"]["reasoning_content"] is None
    assert split["choices"][0]["message"]["reasoning_content"] == answer.strip("\n")
    assert split["choices"][0]["message"]["content"] == ""
    deltas = [e["choices"][0]["delta"] for e in streamed]
    assert "".join(d.get("reasoning_content") or "" for d in deltas).strip("\n") == answer.strip(
        "\n"
    )
    assert not "".join(d.get("content") or "" for d in deltas)


async def test_legacy_completions_stream_echo_and_batches_of_prompts(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    async with app_client([tiny_chat_spec]) as client:
        r = await client.post(
            "/v1/completions",
            json={
                "model": "tiny-chat",
                "prompt": ["Bottle:", "Cup:"],
                "max_tokens": 4,
                "temperature": 0,
                "echo": True,
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "text_completion"
        assert [
            c["text"][: len(p)] for c, p in zip(body["choices"], ["Bottle:", "Cup:"], strict=True)
        ] == ["Bottle:", "Cup:"]
        assert body["usage"]["completion_tokens"] == 8
        events = sse_events(
            (
                await client.post(
                    "/v1/completions",
                    json={
                        "model": "tiny-chat",
                        "prompt": "Bottle:",
                        "max_tokens": 4,
                        "temperature": 0,
                        "stream": True,
                    },
                )
            ).text
        )
    assert "".join(e["choices"][0]["text"] for e in events) == body["choices"][0][
        "text"
    ].removeprefix("Bottle:")
    assert events[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "tiny-chat", "messages": HELLO, "temperature": "hot"}, "temperature"),
        ({"model": "tiny-chat", "messages": HELLO, "max_tokens": 0}, "max_tokens"),
        ({"model": "tiny-chat", "messages": []}, "messages"),
        ({"model": "tiny-chat"}, "messages"),
        ({"messages": HELLO}, "model"),
        (
            {"model": "tiny-chat", "messages": [{"role": "wizard", "content": "hi"}]},
            "messages.0.role",
        ),
        ({"model": "tiny-chat", "messages": HELLO, "n": 100}, "n"),
        ({"model": "tiny-chat", "messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
async def test_invalid_requests_get_openai_shaped_400(
    app_client: AppClient, tiny_chat_spec: ModelSpec, payload: dict[str, Any], param: str
) -> None:
    async with app_client([tiny_chat_spec]) as client:
        assert_error(await client.post(CHAT, json=payload), 400, param=param)


async def test_malformed_json_and_oversized_body_are_refused(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    async with app_client([tiny_chat_spec], max_body_bytes=10_000) as client:
        broken = await client.post(
            CHAT,
            content=b'{"model": "tiny-chat", "messages": [',
            headers={"content-type": "application/json"},
        )
        assert "JSON" in assert_error(broken, 400)["message"]
        huge = [{"role": "user", "content": "x" * 20_000}]
        assert_error(await client.post(CHAT, json={"model": "tiny-chat", "messages": huge}), 413)


async def test_prompt_longer_than_the_context_is_a_400_not_a_crash(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    small = tiny_chat_spec.model_copy(
        update={"options": tiny_chat_spec.options | {"context_length": 64}}
    )
    async with app_client([small]) as client:
        long = [{"role": "user", "content": "bottle " * 200}]
        error = assert_error(
            await client.post(CHAT, json={"model": "tiny-chat", "messages": long}),
            400,
            param="messages",
        )
        assert error["code"] == "context_length_exceeded" and "64" in error["message"]
        too_many = await client.post(
            CHAT, json={"model": "tiny-chat", "messages": HELLO, "max_tokens": 60}
        )
        assert assert_error(too_many, 400)["code"] == "context_length_exceeded"
        prompt = await client.post(
            "/v1/completions", json={"model": "tiny-chat", "prompt": "cup " * 200}
        )
        assert_error(prompt, 400, param="prompt")


async def test_an_empty_prompt_is_a_400_streamed_or_not(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    """The tiny tokenizer adds no BOS: "" is zero tokens, which the engine cannot continue."""
    async with app_client([tiny_chat_spec]) as client:
        for stream in (False, True):
            body = {"model": "tiny-chat", "prompt": "", "stream": stream}
            error = assert_error(await client.post("/v1/completions", json=body), 400)
            assert (error["param"], error["code"]) == ("prompt", "empty_prompt")


@pytest.mark.parametrize("sampling", [{"temperature": 5e-324}, {"top_p": 5e-324}])
async def test_the_smallest_positive_temperature_or_top_p_samples_the_likeliest_token(
    app_client: AppClient, tiny_chat_spec: ModelSpec, sampling: dict[str, float]
) -> None:
    """Both are 0 in float32: no division by zero, no empty nucleus, just greedy decoding."""
    async with app_client([tiny_chat_spec]) as client:
        body = {"model": "tiny-chat", "messages": HELLO, "max_tokens": 8}
        greedy = await client.post(CHAT, json={**body, "temperature": 0})
        tiny = await client.post(CHAT, json={**body, **sampling})
        assert tiny.status_code == 200, tiny.text
        text = tiny.json()["choices"][0]["message"]["content"]
        assert text == greedy.json()["choices"][0]["message"]["content"]


async def test_unknown_model_is_404_and_unloadable_model_is_503_with_retry_after(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    missing = tiny_chat_spec.model_copy(update={"id": "no-weights", "path": "/nonexistent/model"})
    huge = tiny_chat_spec.model_copy(update={"id": "too-big", "memory_gb": 1000})
    async with app_client([tiny_chat_spec, missing, huge]) as client:
        error = assert_error(
            await client.post(CHAT, json={"model": "gpt-4o", "messages": HELLO}), 404, param="model"
        )
        assert error["code"] == "model_not_found" and "tiny-chat" in error["message"]
        unavailable = await client.post(CHAT, json={"model": "no-weights", "messages": HELLO})
        assert "models pull" in assert_error(unavailable, 503)["message"]
        assert unavailable.headers["retry-after"]
        assert (
            "budget"
            in assert_error(
                await client.post(CHAT, json={"model": "too-big", "messages": HELLO}), 503
            )["message"]
        )
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["missing_weights"] == ["no-weights"]
        assert (await client.get("/health")).json() == {"status": "ok"}


async def test_api_keys_are_required_when_configured(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    keys = [{"key": "sk-shop-a", "tenant": "a"}, {"key": "sk-shop-b", "tenant": "b"}]
    async with app_client([tiny_chat_spec], api_keys=keys) as client:
        assert_error(await client.get("/v1/models"), 401)
        assert_error(
            await client.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"}), 401
        )
        assert_error(
            await client.get("/v1/models", headers={"Authorization": "Basic sk-shop-a"}), 401
        )
        assert (
            await client.get("/v1/models", headers={"Authorization": "Bearer sk-shop-b"})
        ).status_code == 200
        assert (await client.get("/health")).status_code == 200  # probes stay open


async def test_full_queue_answers_429_with_retry_after(
    tmp_path: Path, tiny_chat_spec: ModelSpec
) -> None:
    # a real server: the in-process ASGI transport would buffer the first stream to its end
    app = create_app(make_settings(tmp_path, [tiny_chat_spec], max_inflight_per_model=1))
    with live_server(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            # greedy decoding of this prompt runs to max_tokens (no early end-of-turn)
            long = {
                "model": "tiny-chat",
                "messages": HELLO,
                "max_tokens": 500,
                "temperature": 0,
                "stream": True,
            }
            async with client.stream("POST", CHAT, json=long) as first:
                assert first.status_code == 200
                lines = first.aiter_lines()  # kept referenced: collecting it would close the stream
                await lines.__anext__()  # the first request is now in flight
                refused = await client.post(
                    CHAT, json={"model": "tiny-chat", "messages": HELLO, "max_tokens": 2}
                )
                assert_error(refused, 429)
                assert refused.headers["retry-after"] == "1"
            # closing the stream aborts it and gives the slot back: a client that waits as
            # Retry-After says gets in (the server sees the disconnect at its next token)
            for _ in range(10):
                again = await client.post(
                    CHAT, json={"model": "tiny-chat", "messages": HELLO, "max_tokens": 2}
                )
                if again.status_code != 429:
                    break
                await asyncio.sleep(float(again.headers["retry-after"]))
            assert again.status_code == 200


async def test_access_log_has_ids_and_timings_but_never_bodies(
    app_client: AppClient, tiny_chat_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SKU-YW-88231 wholesale price 3.20 USD"
    keys = [{"key": "sk-shop-a", "tenant": "shop-a"}]
    with caplog.at_level("INFO", logger="localshang.access"):
        async with app_client([tiny_chat_spec], api_keys=keys) as client:
            r = await client.post(
                CHAT,
                json={
                    "model": "tiny-chat",
                    "messages": [{"role": "user", "content": secret}],
                    "max_tokens": 3,
                },
                headers={"Authorization": "Bearer sk-shop-a"},
            )
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-request-id"]
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "localshang.access"]
    assert any(
        f"request_id={r.headers['x-request-id']}" in line
        and "tenant=shop-a" in line
        and "status=200" in line
        for line in lines
    )
    assert not any(
        "SKU-YW" in rec.getMessage() or "3.20" in rec.getMessage() for rec in caplog.records
    )


async def test_cors_is_closed_by_default_and_opens_only_to_configured_origins(
    app_client: AppClient, tiny_chat_spec: ModelSpec
) -> None:
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with app_client([tiny_chat_spec]) as client:
        closed = await client.options(CHAT, headers=preflight)
        assert "access-control-allow-origin" not in closed.headers
        listed = await client.get("/v1/models", headers={"Origin": "https://shop.example"})
        assert "access-control-allow-origin" not in listed.headers
    async with app_client([tiny_chat_spec], cors_origins=["https://shop.example"]) as client:
        allowed = await client.options(CHAT, headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        other = await client.options(CHAT, headers=preflight | {"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
