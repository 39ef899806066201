"""Benchmark: N concurrent chat requests through localshang's HTTP API vs the same engine called directly.

    python -m scripts.bench_llm --tiny                                  # tiny random Qwen2, transformers
    python -m scripts.bench_llm --backend vllm --tiny                   # same model on vLLM (+ vLLM's own server)
    python -m scripts.bench_llm --path ~/.local/share/localshang/models/smollm2-135m-instruct \
        --option gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf

Prints throughput (completion tokens/s) and time-to-first-token p50/p95 for each path, and the
ratios localshang / raw engine (target: throughput >= 0.95x, TTFT p50 within +10%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from models.chat.base import ChatBackend, SamplingOptions
from models.registry import ModelRegistry
from models.settings import ModelSpec, RegistrySettings, ServerSettings, Settings
from server.app import create_app
from tests.live import live_server

PROMPT = [{"role": "user", "content": "Write a product description for a steel water bottle."}]


@dataclass
class Run:
    label: str
    wall_s: float
    tokens: int
    ttfts: list[float]

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall_s

    def ttft(self, q: float) -> float:
        return (
            statistics.quantiles(self.ttfts, n=100)[int(q * 100) - 1]
            if len(self.ttfts) > 1
            else self.ttfts[0]
        )


async def direct(backend: ChatBackend, n: int, max_tokens: int) -> Run:
    prompt = backend.render_chat(PROMPT)

    async def one(i: int) -> tuple[float, int]:
        start, first, tokens = time.perf_counter(), 0.0, 0
        options = SamplingOptions(max_tokens=max_tokens, temperature=1.0, seed=i)
        async for delta in backend.generate(prompt, options):
            if not first and delta.text:
                first = time.perf_counter() - start
            tokens = delta.completion_tokens
        return first, tokens

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return Run(
        "engine direct",
        time.perf_counter() - start,
        sum(t for _, t in results),
        [f for f, _ in results],
    )


async def over_http(base_url: str, model: str, n: int, max_tokens: int, label: str) -> Run:
    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, int]:
        body = {
            "model": model,
            "messages": PROMPT,
            "max_tokens": max_tokens,
            "temperature": 1.0,
            "seed": i,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        start, first, tokens = time.perf_counter(), 0.0, 0
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and not first:
                    first = time.perf_counter() - start
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return first, tokens

    limits = httpx.Limits(max_connections=n + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(client, i) for i in range(n)))
    return Run(
        label, time.perf_counter() - start, sum(t for _, t in results), [f for f, _ in results]
    )


@contextmanager
def vllm_own_server(spec: ModelSpec) -> Iterator[str]:
    """vLLM's OpenAI server on the same folder and engine settings, as a child process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kv_bytes = int(float(spec.options.get("kv_cache_space_gb", 1)) * 2**30)
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        spec.path,
        "--served-model-name",
        spec.id,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",
        "--disable-log-stats",
        "--kv-cache-memory-bytes",
        str(kv_bytes),
    ]
    if "max_model_len" in spec.options:
        cmd += ["--max-model-len", str(spec.options["max_model_len"])]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("vLLM's own server did not start")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def http_run(url: str, model: str, n: int, max_tokens: int, label: str) -> Run:
    return asyncio.run(over_http(url, model, n, max_tokens, label))


def report(runs: list[Run], baseline: Run) -> None:
    print(
        f"{'path':28} {'tok/s':>9} {'TTFT p50':>9} {'TTFT p95':>9} {'thr ratio':>9} {'p50 ratio':>9}"
    )
    for run in runs:
        print(
            f"{run.label:28} {run.throughput:9.1f} {run.ttft(0.5):9.3f} {run.ttft(0.95):9.3f} "
            f"{run.throughput / baseline.throughput:9.3f} {run.ttft(0.5) / baseline.ttft(0.5):9.3f}"
        )


def measure(args: argparse.Namespace, spec: ModelSpec, workdir: Path) -> None:
    settings = Settings(
        model_dir=workdir,
        data_dir=workdir / "data",
        models=[spec],
        server=ServerSettings(max_inflight_per_model=args.concurrency + 8),
        registry=RegistrySettings(memory_budget_gb=1000),
    )
    app = create_app(settings)
    registry: ModelRegistry = app.state.registry
    # One engine shared by both paths. vLLM binds to the loop of its first request, so the
    # direct path runs on the server's own loop too.
    server_loop = asyncio.new_event_loop()

    def engine_direct() -> Run:
        async def lend() -> Run:
            async with registry.use(spec.id) as backend:
                return await direct(backend, args.concurrency, args.max_tokens)

        return asyncio.run_coroutine_threadsafe(lend(), server_loop).result()

    # The HTTP client runs in its own process, as real clients do: in this one it would compete
    # with the server for the GIL and bill its own JSON parsing to localshang.
    client = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def http(url: str, label: str) -> Run:
        job = client.submit(http_run, url, spec.id, args.concurrency, args.max_tokens, label)
        return job.result()

    runs: list[Run] = []
    with live_server(app, server_loop) as base_url:
        for _ in range(args.rounds):
            engine_direct()  # warm-up, then measured
            runs.append(engine_direct())
            runs.append(http(base_url, "localshang HTTP"))
        if spec.backend == "vllm":  # free our engine first: two would not fit side by side
            asyncio.run_coroutine_threadsafe(registry.close(), server_loop).result()
    if spec.backend == "vllm":
        with vllm_own_server(spec) as vllm_url:
            http(vllm_url, "warm-up")
            runs.append(http(vllm_url, "vLLM's own server"))
    client.shutdown()
    print(f"{spec.backend} · {args.concurrency} concurrent · {args.max_tokens} tokens each")
    report(runs, max((r for r in runs if r.label == "engine direct"), key=lambda r: r.throughput))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    parser.add_argument("--path", type=Path, help="model folder (default: --tiny)")
    parser.add_argument("--tiny", action="store_true", help="build and use the tiny random Qwen2")
    parser.add_argument("--option", action="append", default=[], help="backend option KEY=VALUE")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if (args.path is None) == (not args.tiny):
        parser.error("give exactly one of --path or --tiny")
    options: dict[str, object] = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = int(value) if value.isdigit() else value
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path
        if path is None:
            from scripts.tiny_chat import build_tiny_chat_model

            path = build_tiny_chat_model(Path(tmp) / "tiny-chat")
        if args.backend == "transformers":
            options.setdefault("max_batch_size", args.concurrency)
        spec = ModelSpec(
            id="bench", kind="chat", backend=args.backend, path=str(path), options=options
        )
        measure(args, spec, Path(tmp))


if __name__ == "__main__":
    main()
