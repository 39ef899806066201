"""The vLLM chat backend on the tiny random Qwen2: streaming, limits, seeds, batching, abort, JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio

from models.chat.base import ChatBackend, RequestRejected, SamplingOptions, TextDelta
from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from server.app import create_app
from tests.fixtures_server import make_settings
from tests.server.test_logprobs import check_chat_logprobs

if TYPE_CHECKING:
    from models.chat.vllm_backend import VLLMChat

pytest.importorskip("vllm")
jsonschema = pytest.importorskip("jsonschema")
psutil = pytest.importorskip("psutil")

# One engine for the whole module, used from the session's event loop (the engine binds to the
# loop of its first request).
pytestmark = [pytest.mark.vllm, pytest.mark.asyncio(loop_scope="session")]

MAX_MODEL_LEN = 1024
PRODUCT = [{"role": "user", "content": "Write a short product description for a water bottle."}]
SCHEMA = {
    "type": "object",
    "properties": {
        "colour": {"enum": ["red", "green", "blue"]},
        "name": {"type": "string", "maxLength": 8},
        "stock": {"type": "integer", "minimum": 0, "maximum": 99},
    },
    "required": ["colour", "name", "stock"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def vllm_spec(tiny_chat_dir: Path) -> ModelSpec:
    return ModelSpec(
        id="tiny-vllm",
        kind="chat",
        backend="vllm",
        path=str(tiny_chat_dir),
        memory_gb=0.5,
        options={
            "dtype": "float32",
            "max_model_len": MAX_MODEL_LEN,
            "kv_cache_space_gb": 0.25,
            # Compact JSON: a random model would otherwise pad guided JSON with whitespace.
            "engine_args": {
                "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True}
            },
        },
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def vllm_registry(vllm_spec: ModelSpec, tiny_chat_dir: Path) -> AsyncIterator[ModelRegistry]:
    """A registry with the tiny model loaded; its engine processes must be gone afterwards."""
    registry = ModelRegistry([vllm_spec], tiny_chat_dir.parent, RegistrySettings())
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    async with registry.use("tiny-vllm", kind="chat"):
        engine_procs = [
            p
            for p in psutil.Process().children(recursive=True)
            if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert engine_procs, "vLLM should run its engine core in child processes"
        yield registry
    await registry.close()
    assert not registry.is_loaded("tiny-vllm")
    _, alive = await asyncio.to_thread(psutil.wait_procs, engine_procs, timeout=30)
    assert not alive, f"engine processes left running after close(): {alive}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chat(vllm_registry: ModelRegistry) -> AsyncIterator[ChatBackend]:
    async with vllm_registry.use("tiny-vllm", kind="chat") as backend:
        yield backend


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(
    vllm_registry: ModelRegistry, vllm_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP app over the same loaded engine (one engine per module: start-up is costly)."""
    settings = make_settings(tmp_path_factory.mktemp("vllm-http"), [vllm_spec])
    app = create_app(settings, registry=vllm_registry)
    # not the whole lifespan, which would close the engine the fixture above owns: the account
    # store only, which every request needs (closed, it answers 503)
    accounts = app.state.services.accounts
    await accounts.open()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", timeout=120
    ) as c:
        yield c
    await accounts.close()


async def _run(chat: ChatBackend, prompt: str, **options: object) -> list[TextDelta]:
    return [d async for d in chat.generate(prompt, SamplingOptions(**options))]  # type: ignore[arg-type]


def _text(deltas: list[TextDelta]) -> str:
    return "".join(d.text for d in deltas)


def _first_plain_word_after(text: str, start: int) -> int:
    """Index of the first 3 ASCII letters at or after `start` that occur nowhere earlier."""
    return next(
        i
        for i in range(start, len(text) - 3)
        if text[i : i + 3].isascii()
        and text[i : i + 3].isalpha()
        and text.find(text[i : i + 3]) == i
    )


async def test_chat_template_renders_the_prompt_and_counts_its_tokens(
    chat: ChatBackend, tiny_chat_dir: Path
) -> None:
    from transformers import AutoTokenizer

    prompt = chat.render_chat([{"role": "user", "content": "Hello"}])

    assert prompt == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    ids = AutoTokenizer.from_pretrained(tiny_chat_dir)(prompt, add_special_tokens=False)
    assert chat.count_tokens(prompt) == len(ids["input_ids"])
    assert chat.context_length == MAX_MODEL_LEN
    assert chat.supports_json_schema


async def test_stream_is_text_deltas_with_growing_token_counts_and_one_final_finish_reason(
    chat: ChatBackend,
) -> None:
    deltas = await _run(chat, chat.render_chat(PRODUCT), max_tokens=40, seed=3)

    assert len(deltas) > 1
    assert [d.finish_reason for d in deltas[:-1]] == [None] * (len(deltas) - 1)
    assert deltas[-1].finish_reason in ("stop", "length")
    counts = [d.completion_tokens for d in deltas]
    assert counts == sorted(counts) and 0 < counts[-1] <= 40


async def test_max_tokens_ends_with_length_after_exactly_that_many_tokens(
    chat: ChatBackend,
) -> None:
    # Greedy decoding of this prompt is known not to emit an end-of-turn token early.
    deltas = await _run(chat, chat.render_chat(PRODUCT), max_tokens=24, temperature=0.0)

    assert deltas[-1].finish_reason == "length"
    assert deltas[-1].completion_tokens == 24


async def test_stop_string_ends_the_text_just_before_it(chat: ChatBackend) -> None:
    prompt = chat.render_chat(PRODUCT)
    full = _text(await _run(chat, prompt, max_tokens=32, temperature=0.0))
    cut = _first_plain_word_after(full, 4)
    stop = full[cut : cut + 3]

    deltas = await _run(chat, prompt, max_tokens=32, temperature=0.0, stop=("@@never@@", stop))

    assert _text(deltas) == full[:cut]
    assert deltas[-1].finish_reason == "stop"


async def test_same_seed_and_prompt_give_the_same_text_at_temperature_one(
    chat: ChatBackend,
) -> None:
    prompt = chat.render_chat(PRODUCT)

    first = _text(await _run(chat, prompt, max_tokens=32, temperature=1.0, seed=1234))
    again = _text(await _run(chat, prompt, max_tokens=32, temperature=1.0, seed=1234))
    other = _text(await _run(chat, prompt, max_tokens=32, temperature=1.0, seed=4321))

    assert first == again
    assert other != first


async def test_sixteen_concurrent_requests_all_complete_batched_together(
    chat: ChatBackend,
) -> None:
    vllm_chat = _as_vllm(chat)
    prompt = chat.render_chat(PRODUCT)
    in_flight: list[int] = []

    async def one(seed: int) -> list[TextDelta]:
        deltas: list[TextDelta] = []
        async for delta in chat.generate(prompt, SamplingOptions(max_tokens=64, seed=seed)):
            if not deltas:
                in_flight.append(vllm_chat.unfinished_requests())
            deltas.append(delta)
        return deltas

    results = await asyncio.gather(*(one(seed) for seed in range(16)))

    for deltas in results:
        assert deltas[-1].finish_reason in ("stop", "length")
        assert deltas[-1].completion_tokens == 64 or deltas[-1].finish_reason == "stop"
    # Served one after another, every request would see itself alone in the engine.
    assert max(in_flight) > 8
    assert vllm_chat.unfinished_requests() == 0


async def test_closing_the_stream_early_aborts_the_request_in_the_engine(
    chat: ChatBackend,
) -> None:
    vllm_chat = _as_vllm(chat)
    stream = chat.generate(
        chat.render_chat(PRODUCT), SamplingOptions(max_tokens=900, temperature=0)
    )

    first = await anext(stream)
    assert first.finish_reason is None
    assert vllm_chat.unfinished_requests() == 1

    await stream.aclose()
    assert vllm_chat.unfinished_requests() == 0
    # The engine keeps serving afterwards.
    assert (await _run(chat, "Hello", max_tokens=4, temperature=0.0))[-1].finish_reason


async def test_cancelling_the_consuming_task_aborts_the_request_in_the_engine(
    chat: ChatBackend,
) -> None:
    vllm_chat = _as_vllm(chat)
    streaming = asyncio.Event()

    async def consume() -> None:
        options = SamplingOptions(max_tokens=900, temperature=0)
        async for _ in chat.generate(chat.render_chat(PRODUCT), options):
            streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    assert vllm_chat.unfinished_requests() == 1

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert vllm_chat.unfinished_requests() == 0


async def test_json_schema_forces_output_that_parses_and_validates(chat: ChatBackend) -> None:
    prompt = chat.render_chat([{"role": "user", "content": "Describe the product as JSON."}])

    for seed in range(3):
        deltas = await _run(chat, prompt, max_tokens=200, seed=seed, json_schema=SCHEMA)

        assert deltas[-1].finish_reason == "stop"
        jsonschema.validate(json.loads(_text(deltas)), SCHEMA)


async def test_an_unusable_json_schema_is_a_value_error(chat: ChatBackend) -> None:
    with pytest.raises(RequestRejected):
        await _run(chat, "Hello", max_tokens=8, json_schema={"type": "no-such-type"})


def _as_vllm(chat: ChatBackend) -> VLLMChat:
    from models.chat.vllm_backend import VLLMChat  # not at the top: vllm may be absent

    assert isinstance(chat, VLLMChat)
    return chat


async def test_chat_api_on_vllm_streams_and_honours_a_json_schema_response_format(
    http: httpx.AsyncClient,
) -> None:
    request = {"model": "tiny-vllm", "messages": PRODUCT, "max_tokens": 8, "temperature": 0}
    whole = (await http.post("/v1/chat/completions", json=request)).json()
    assert whole["choices"][0]["finish_reason"] in ("stop", "length")
    assert whole["usage"]["completion_tokens"] <= 8
    streamed = await http.post("/v1/chat/completions", json=request | {"stream": True})
    lines = [ln[6:] for ln in streamed.text.split("\n\n") if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    text = "".join(json.loads(ln)["choices"][0]["delta"].get("content") or "" for ln in lines[:-1])
    assert text == whole["choices"][0]["message"]["content"]

    schema_format = {"type": "json_schema", "json_schema": {"name": "product", "schema": SCHEMA}}
    guided = await http.post(
        "/v1/chat/completions",
        json=request | {"max_tokens": 200, "seed": 3, "response_format": schema_format},
    )
    assert guided.status_code == 200, guided.text
    jsonschema.validate(json.loads(guided.json()["choices"][0]["message"]["content"]), SCHEMA)


async def test_chat_api_on_vllm_turns_an_unusable_schema_into_a_400(
    http: httpx.AsyncClient,
) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "no-such-type"}}}
    r = await http.post(
        "/v1/chat/completions",
        json={"model": "tiny-vllm", "messages": PRODUCT, "max_tokens": 8, "response_format": bad},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


# --- parity with vLLM's own server ----------------------------------------------------------
PARITY_SEEDS = range(12)


async def test_a_seeded_set_stops_as_it_does_with_the_sampling_params_vllms_server_builds(
    http: httpx.AsyncClient, chat: ChatBackend
) -> None:
    """The same requests through localshang's HTTP API and straight into the engine, with the
    SamplingParams vLLM's own server makes of them (its request class and the model's
    generation_config defaults): every answer has the same length and finish reason."""
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.inputs import tokens_input

    vllm_chat = _as_vllm(chat)
    engine = vllm_chat._engine
    assert engine is not None
    server_defaults = engine.model_config.get_diff_sampling_param()
    prompt_ids = vllm_chat._encode(chat.render_chat(PRODUCT))

    async def direct(body: dict[str, object], request_id: str) -> tuple[int, str | None]:
        params = ChatCompletionRequest(**body).to_sampling_params(64, server_defaults)
        async for output in engine.generate(tokens_input(prompt_ids), params, request_id):
            final = output.outputs[0]
        return len(final.token_ids), final.finish_reason

    for extras in (
        {},
        {"ignore_eos": True},
        {"min_tokens": 24},
        {"top_k": 8, "min_p": 0.02, "repetition_penalty": 1.3, "stop_token_ids": [5, 9]},
    ):
        ours, theirs = [], []
        for seed in PARITY_SEEDS:  # one at a time: a batch's make-up may move the last bits
            body = {"model": "tiny-vllm", "messages": PRODUCT, "max_tokens": 64, "seed": seed}
            body |= extras
            reply = (await http.post("/v1/chat/completions", json=body)).json()
            ours.append((reply["usage"]["completion_tokens"], reply["choices"][0]["finish_reason"]))
            theirs.append(await direct(body, f"parity-{seed}-{len(extras)}"))
        assert ours == theirs, extras
        if extras.get("ignore_eos"):
            assert {tokens for tokens, _ in ours} == {64}


async def test_tokenize_on_vllm_is_the_engines_tokenizer(
    http: httpx.AsyncClient, chat: ChatBackend
) -> None:
    prompt = chat.render_chat(PRODUCT)
    r = await http.post("/tokenize", json={"model": "tiny-vllm", "messages": PRODUCT})
    assert r.status_code == 200, r.text
    assert r.json()["tokens"] == _as_vllm(chat)._encode(prompt)
    assert r.json()["max_model_len"] == MAX_MODEL_LEN
    back = await http.post("/detokenize", json={"model": "tiny-vllm", "tokens": r.json()["tokens"]})
    assert back.json() == {"prompt": prompt}


async def test_chat_logprobs_on_vllm_have_the_shape_and_sense_of_the_other_engines(
    http: httpx.AsyncClient,
) -> None:
    body = {"model": "tiny-vllm", "messages": PRODUCT, "max_tokens": 12, "logprobs": True}
    greedy = body | {"temperature": 0, "top_logprobs": 3}
    reply = (await http.post("/v1/chat/completions", json=greedy)).json()
    for entry in check_chat_logprobs(reply, top=3, tokens_make_the_text=False):
        assert entry["logprob"] == entry["top_logprobs"][0]["logprob"]
    seeded = body | {"seed": 5, "top_logprobs": 2}
    whole = (await http.post("/v1/chat/completions", json=seeded)).json()
    entries = check_chat_logprobs(whole, top=2, tokens_make_the_text=False)
    streamed = await http.post("/v1/chat/completions", json=seeded | {"stream": True})
    lines = [ln[6:] for ln in streamed.text.split("\n\n") if ln.startswith("data: ")][:-1]
    chunks = [json.loads(ln)["choices"][0] for ln in lines]
    assert [e for c in chunks if c.get("logprobs") for e in c["logprobs"]["content"]] == entries
