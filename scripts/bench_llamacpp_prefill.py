"""llama.cpp's time to first token under concurrent requests, per set of engine options: how
the defaults of threads_batch, max_batch_size and n_batch were picked.

    python -m scripts.bench_llamacpp_prefill --model qwen2.5-coder-1.5b-instruct \\
        --variant threads_batch=1 --variant threads_batch=2 \\
        --variant threads_batch=2,max_batch_size=8 --concurrency 1,4,8

Each variant loads the GGUF in a fresh process (threads=1 and context_length 4096 as in the
default config, unless the variant sets them), then per concurrency starts that many requests at
once on a prompt of about --prompt-tokens tokens (a product text to translate, as the merchant
workflows send) and prints TTFT p50 and max, aggregate output tok/s and the cores kept busy.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from multiprocessing.connection import Connection
from pathlib import Path

from models.fetch import fetch
from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from scripts.bench_llm import Run, _int_list, direct, tree_cpu
from tests.fixtures_real import models_cache_dir

SENTENCE = (
    "This insulated stainless steel water bottle keeps drinks cold for 24 hours and hot for "
    "12 hours, holds 750 ml, weighs 320 g and ships in 6 colours with a leak-proof lid. "
)


def messages(prompt_tokens: int) -> list[dict[str, str]]:
    """A translation request of roughly `prompt_tokens` tokens (about 40 per sentence)."""
    text = SENTENCE * max(1, prompt_tokens // 40)
    return [
        {"role": "system", "content": "Translate the user's product text into Chinese."},
        {"role": "user", "content": text},
    ]


def trial(
    spec: ModelSpec,
    concurrencies: list[int],
    max_tokens: int,
    prompt_tokens: int,
    results: Connection,
) -> None:
    """In a child process: load `spec`, warm up, then one run per concurrency."""

    async def runs() -> list[Run]:
        registry = ModelRegistry([spec], Path.cwd(), RegistrySettings(memory_budget_gb=1000))
        chat = messages(prompt_tokens)
        done = []
        async with registry.use(spec.id, kind="chat") as backend:
            await direct(backend, 1, 4, messages=chat)  # warm-up
            for n in concurrencies:
                cpu = tree_cpu(os.getpid())
                run = await direct(backend, n, max_tokens, str(n), True, chat)
                run.cpu_s = tree_cpu(os.getpid()) - cpu
                done.append(run)
        await registry.close()
        return done

    results.send(asyncio.run(runs()))


def measure(spec: ModelSpec, args: argparse.Namespace) -> list[Run]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=trial,
        args=(spec, args.concurrency, args.max_tokens, args.prompt_tokens, sender),
    )
    child.start()
    sender.close()
    try:
        runs: list[Run] = receiver.recv()
    except EOFError:
        raise RuntimeError(f"the trial died (exit code {child.exitcode})") from None
    finally:
        child.join()
    return runs


def _options(text: str) -> dict[str, int]:
    pairs = (item.partition("=") for item in text.split(","))
    return {key: int(value) for key, _, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct", help="a GGUF bundle")
    parser.add_argument("--variant", type=_options, action="append", required=True)
    parser.add_argument("--concurrency", type=_int_list, default=[1, 4, 8])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=300)
    args = parser.parse_args()
    folder = fetch(args.model, models_cache_dir() / args.model)
    print(f"{args.model}, ~{args.prompt_tokens} prompt tokens, {args.max_tokens} out, ignore_eos")
    print("| options | concurrency | TTFT p50 s | TTFT max s | agg tok/s | cores |")
    print("|---|---|---|---|---|---|")
    for variant in args.variant:
        options = {"threads": 1, "context_length": 4096, "max_batch_size": 4} | variant
        spec = ModelSpec(id="bench", kind="chat", backend="llama.cpp", path=str(folder))
        spec = spec.model_copy(update={"options": options})
        start = time.perf_counter()
        for run in measure(spec, args):
            label = ",".join(f"{k}={v}" for k, v in variant.items())
            print(
                f"| {label} | {run.label} | {statistics.median(run.ttfts):.2f} | "
                f"{max(run.ttfts):.2f} | {run.throughput:.1f} | {run.cpu_s / run.wall_s:.2f} |",
                flush=True,
            )
        print(f"<!-- {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
