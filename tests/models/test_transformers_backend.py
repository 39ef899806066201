"""The transformers chat backend, on the tiny random Qwen2 (and the real SmolLM2 where present)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import torch

from models.chat.base import SamplingOptions, TextDelta
from models.chat.hf_sampling import IncrementalDetokenizer
from models.chat.transformers_backend import TransformersChat
from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings

session_loop = pytest.mark.asyncio(loop_scope="session")

ONE_SLOT = "tiny-chat-1slot"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def registry(tiny_chat_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Any:
    one_slot = tiny_chat_spec.model_copy(
        update={"id": ONE_SLOT, "options": tiny_chat_spec.options | {"max_batch_size": 1}}
    )
    registry = ModelRegistry(
        [tiny_chat_spec, one_slot], tmp_path_factory.mktemp("model_dir"), RegistrySettings()
    )
    yield registry
    await registry.close()


@pytest_asyncio.fixture(loop_scope="session")
async def backend(registry: ModelRegistry) -> AsyncIterator[TransformersChat]:
    async with registry.use("tiny-chat", kind="chat") as loaded:
        assert isinstance(loaded, TransformersChat)
        yield loaded


@pytest_asyncio.fixture(loop_scope="session")
async def one_slot_backend(registry: ModelRegistry) -> AsyncIterator[TransformersChat]:
    async with registry.use(ONE_SLOT, kind="chat") as loaded:
        assert isinstance(loaded, TransformersChat)
        yield loaded


def chat(backend: TransformersChat, text: str) -> str:
    return backend.render_chat([{"role": "user", "content": text}])


async def deltas(backend: TransformersChat, prompt: str, **options: Any) -> list[TextDelta]:
    return [d async for d in backend.generate(prompt, SamplingOptions(**options))]


async def text_of(backend: TransformersChat, prompt: str, **options: Any) -> str:
    return "".join(d.text for d in await deltas(backend, prompt, **options))


def test_render_chat_uses_the_chatml_template_with_a_generation_prompt(
    backend: TransformersChat,
) -> None:
    prompt = chat(backend, "Hello")
    assert prompt == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    assert 0 < backend.count_tokens(prompt) < len(prompt)
    assert backend.context_length == 2048
    assert backend.supports_json_schema is True  # xgrammar (tests/server/test_json_modes.py)


@session_loop
async def test_stream_yields_text_then_one_final_delta_with_finish_reason(
    backend: TransformersChat,
) -> None:
    stream = await deltas(backend, chat(backend, "Write copy"), max_tokens=24, temperature=0)
    *body, last = stream
    assert body and all(d.text and d.finish_reason is None for d in body)
    assert last.finish_reason in ("stop", "length")
    counts = [d.completion_tokens for d in stream]
    assert counts == sorted(counts) and 0 < counts[-1] <= 24


@session_loop
async def test_max_tokens_ends_with_length_after_exactly_that_many_tokens(
    backend: TransformersChat,
) -> None:
    for max_tokens in (1, 7, 40):
        stream = await deltas(backend, chat(backend, "Write copy"), max_tokens=max_tokens, seed=3)
        assert stream[-1].finish_reason == "length"
        assert stream[-1].completion_tokens == max_tokens


@session_loop
async def test_generation_stops_at_the_end_of_the_context(registry: ModelRegistry) -> None:
    spec = registry.resolve("tiny-chat")
    small = spec.model_copy(update={"options": spec.options | {"context_length": 24}})
    backend = TransformersChat.load(small, Path(small.path))
    try:
        prompt = chat(backend, "Write copy")
        stream = await deltas(backend, prompt, max_tokens=100, temperature=0)
        assert stream[-1].finish_reason == "length"
        assert backend.count_tokens(prompt) + stream[-1].completion_tokens == 24
        with pytest.raises(ValueError, match="context"):
            await deltas(backend, chat(backend, "Write copy " * 10), max_tokens=1)
    finally:
        backend.close()


@session_loop
async def test_stop_string_truncates_the_text_and_is_never_streamed(
    backend: TransformersChat,
) -> None:
    prompt = chat(backend, "Write copy for a bottle")
    full = await text_of(backend, prompt, max_tokens=40, temperature=0)
    stop = " in in"
    assert stop in full  # the tiny model's greedy text repeats " in"
    stream = await deltas(backend, prompt, max_tokens=40, temperature=0, stop=("zzz", stop))
    text = "".join(d.text for d in stream)
    assert text == full[: full.index(stop)]
    assert stream[-1].finish_reason == "stop"


@session_loop
async def test_same_seed_and_prompt_give_the_same_text_alone_or_among_other_requests(
    backend: TransformersChat,
) -> None:
    prompt = chat(backend, "Write a product description")
    options: dict[str, Any] = {"max_tokens": 48, "temperature": 1.0, "top_p": 0.95, "seed": 42}
    alone = await text_of(backend, prompt, **options)
    again = await text_of(backend, prompt, **options)
    others = [
        text_of(backend, chat(backend, f"其他 request {i}" * (i + 1)), max_tokens=30 + i, seed=i)
        for i in range(5)
    ]
    among, *_ = await asyncio.gather(text_of(backend, prompt, **options), *others)
    other_seed = await text_of(backend, prompt, **(options | {"seed": 43}))
    assert alone == again == among
    assert other_seed != alone


@session_loop
async def test_temperature_zero_is_greedy_and_repeatable(backend: TransformersChat) -> None:
    prompt = chat(backend, "Hello")
    first = await text_of(backend, prompt, max_tokens=32, temperature=0)
    in_batch, *_ = await asyncio.gather(
        text_of(backend, prompt, max_tokens=32, temperature=0, seed=5),
        *(text_of(backend, chat(backend, "x" * i), max_tokens=20) for i in range(1, 4)),
    )
    tiny_top_p = await text_of(backend, prompt, max_tokens=32, temperature=1.0, top_p=1e-9)
    assert first == in_batch == tiny_top_p


@session_loop
async def test_penalties_change_the_greedy_text_deterministically(
    backend: TransformersChat,
) -> None:
    prompt = chat(backend, "Write copy for a bottle")
    plain = await text_of(backend, prompt, max_tokens=40, temperature=0)
    penalised = [
        await text_of(
            backend,
            prompt,
            max_tokens=40,
            temperature=0,
            presence_penalty=2.0,
            frequency_penalty=1.0,
        )
        for _ in range(2)
    ]
    assert penalised[0] == penalised[1] != plain
    assert " in in in" in plain and " in in in" not in penalised[0]


@session_loop
async def test_eight_concurrent_requests_complete_in_one_batch(
    backend: TransformersChat,
) -> None:
    steps_before = backend.stats.decode_steps
    results = await asyncio.gather(
        *(deltas(backend, chat(backend, f"Product {i}"), max_tokens=16, seed=i) for i in range(8))
    )
    assert [r[-1].finish_reason for r in results] == ["length"] * 8
    assert backend.stats.max_batch == 8
    # One request alone needs 15 decode steps; eight one after another would need 120.
    assert backend.stats.decode_steps - steps_before <= 2 * 16


@session_loop
async def test_closing_the_stream_early_aborts_the_request_and_frees_its_slot(
    one_slot_backend: TransformersChat,
) -> None:
    backend = one_slot_backend
    prompt = chat(backend, "Write a long story")
    tokens_before, aborted_before = backend.stats.completion_tokens, backend.stats.aborted
    stream = backend.generate(prompt, SamplingOptions(max_tokens=2000, seed=1))
    first = await anext(stream)
    assert first.finish_reason is None
    await stream.aclose()
    # The only slot must come free, or this second request would wait forever.
    # seeded: unseeded, the random tiny model now and then samples EOS within 3 tokens
    after = await asyncio.wait_for(deltas(backend, prompt, max_tokens=3, seed=1), timeout=60)
    assert after[-1].finish_reason == "length"
    stats = backend.stats
    assert stats.aborted == aborted_before + 1
    assert stats.completion_tokens - tokens_before < 100


@session_loop
async def test_a_failure_in_the_model_reaches_the_caller_and_the_backend_recovers(
    one_slot_backend: TransformersChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = one_slot_backend
    model = backend._engine.model

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(model, "forward", broken)
    with pytest.raises(RuntimeError, match="simulated kernel failure"):
        await asyncio.wait_for(deltas(backend, chat(backend, "hi"), max_tokens=4), timeout=60)
    monkeypatch.undo()
    # seeded: unseeded, the random tiny model now and then samples EOS within 4 tokens
    stream = await deltas(backend, chat(backend, "hi"), max_tokens=4, seed=1)
    assert stream[-1].finish_reason == "length"


@session_loop
async def test_generation_runs_off_the_event_loop(
    backend: TransformersChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = backend._engine.model
    forward = model.forward
    threads: set[str] = set()

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.current_thread().name)
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recording)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    generation = asyncio.create_task(
        deltas(backend, chat(backend, "Write copy"), max_tokens=64, seed=9)
    )
    while not generation.done() and ticks < 3:
        await asyncio.sleep(0.001)
    ticks_while_generating = ticks if not generation.done() else 0
    await generation
    ticking.cancel()
    assert ticks_while_generating >= 3
    assert threads and threading.current_thread().name not in threads


def test_incremental_detokenizer_never_splits_a_chinese_character(
    backend: TransformersChat,
) -> None:
    tokenizer = backend._tokenizer
    text = "这款不锈钢保温杯可以保温十二小时, light and durable."
    detokenizer = IncrementalDetokenizer(tokenizer)
    pieces = [detokenizer.push(i) for i in tokenizer(text, add_special_tokens=False).input_ids]
    pieces.append(detokenizer.flush())
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece) > 5  # streamed, not all at the end


@session_loop
@pytest.mark.parametrize(
    "extras",
    [{}, {"min_tokens": 24}, {"top_k": 8, "min_p": 0.02, "repetition_penalty": 1.3}],
    ids=["plain", "min_tokens", "filters"],
)
async def test_a_seeded_set_ends_as_with_transformers_generate(
    backend: TransformersChat, tiny_chat_dir: Path, extras: dict[str, Any]
) -> None:
    """Each seed's answer has the length and end that `model.generate` gives it with the same
    seed (both draw from one torch generator per request), so the same tokens end it: the
    tokenizer's EOS and generation_config.json's eos_token_id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompt = chat(backend, "Write a short product description for a water bottle.")
    ours = []
    for seed in range(16):
        stream = await deltas(backend, prompt, max_tokens=64, seed=seed, **extras)
        ours.append((stream[-1].completion_tokens, stream[-1].finish_reason))
    model = AutoModelForCausalLM.from_pretrained(tiny_chat_dir, dtype=torch.float32).eval()
    ids = AutoTokenizer.from_pretrained(tiny_chat_dir)(prompt, return_tensors="pt").input_ids
    eos = set(model.generation_config.eos_token_id)
    hf_extras = {"top_k": 0} | {
        "min_new_tokens" if name == "min_tokens" else name: value for name, value in extras.items()
    }
    theirs = []
    for seed in range(16):
        torch.manual_seed(seed)
        new = model.generate(ids, do_sample=True, max_new_tokens=64, **hf_extras)[0, ids.shape[1] :]
        theirs.append((len(new), "stop" if int(new[-1]) in eos else "length"))
    assert ours == theirs
    assert extras or any(finish == "stop" for _, finish in ours)  # some seeds end themselves
