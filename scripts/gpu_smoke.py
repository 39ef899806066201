"""GPU smoke test: our transformers chat backend and Whisper on CTranslate2, on tiny random
models built on the spot, with tokens/s and memory printed. No network, no vLLM, no weights.

    python -m scripts.gpu_smoke [--cpu] [--streams 8] [--tokens 128] [--models DIR]

The same code runs on CUDA (default) or the CPU (`--cpu`, what the test suite runs); only the
device differs. Whisper is skipped, with the reason, where CTranslate2 is missing or cannot
reach the GPU. Exit status 0 when every part that ran worked.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.chat.base import SamplingOptions
from models.chat.transformers_backend import TransformersChat
from models.spec import ModelSpec
from scripts.tiny_chat import build_tiny_chat_model
from scripts.tiny_whisper import build_tiny_whisper_model

SEED = 1234
AUDIO_SECONDS = 10.0


def memory(device: str) -> str:
    """Peak memory of the run so far: the GPU's allocations on CUDA, else the process's RSS."""
    if device == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


async def stream(chat: TransformersChat, prompt: str, tokens: int, seed: int) -> tuple[int, float]:
    """(tokens generated, seconds to the first text) of one request."""
    started, first, count = time.perf_counter(), 0.0, 0
    options = SamplingOptions(max_tokens=tokens, seed=seed, ignore_eos=True)
    async for delta in chat.generate(prompt, options):
        if not first and delta.text:
            first = time.perf_counter() - started
        count = delta.completion_tokens
    return count, first


async def chat_part(folder: Path, device: str, streams: int, tokens: int) -> None:
    path = build_tiny_chat_model(folder / "tiny-chat")
    spec = ModelSpec(
        id="tiny-chat",
        kind="chat",
        backend="transformers",
        path=str(path),
        options={
            "device": device,
            "dtype": "bfloat16" if device == "cuda" else "float32",
            "max_batch_size": streams,
        },
    )
    loading = time.perf_counter()
    chat = TransformersChat.load(spec, path)
    print(f"chat: tiny Qwen2 loaded on {device} in {time.perf_counter() - loading:.1f} s")
    try:
        prompt = chat.render_chat([{"role": "user", "content": "Describe a steel bottle."}])
        await stream(chat, prompt, 4, SEED)  # warm-up: kernels, allocator
        started = time.perf_counter()
        done = await asyncio.gather(
            *(stream(chat, prompt, tokens, SEED + i) for i in range(streams))
        )
        seconds = time.perf_counter() - started
    finally:
        chat.close()
    total = sum(count for count, _ in done)
    if total != streams * tokens:
        raise SystemExit(f"chat: {total} tokens generated, {streams * tokens} asked")
    first = sorted(ttft for _, ttft in done)[len(done) // 2]
    print(
        f"chat: {streams} concurrent streams x {tokens} tokens in {seconds:.2f} s: "
        f"{total / seconds:.0f} tokens/s together, {tokens / seconds:.0f} per stream, "
        f"median first text {first * 1000:.0f} ms; {memory(device)}"
    )


def whisper_part(folder: Path, device: str, batch: int) -> None:
    try:
        import ctranslate2
    except ImportError as exc:
        print(f"whisper: skipped, CTranslate2 is not installed ({exc})")
        return
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        print(f"whisper: skipped, CTranslate2 {ctranslate2.__version__} sees no CUDA device")
        return
    from transformers import WhisperFeatureExtractor

    path = build_tiny_whisper_model(folder / "tiny-whisper")
    compute_type = "float16" if device == "cuda" else "int8"
    try:
        model = ctranslate2.models.Whisper(str(path), device=device, compute_type=compute_type)
    except (RuntimeError, ValueError) as exc:  # e.g. a wheel built for another CUDA
        print(f"whisper: skipped, CTranslate2 cannot load on {device}: {exc}")
        return
    rate = 16_000
    noise = np.random.default_rng(SEED).standard_normal(int(AUDIO_SECONDS * rate))
    features = WhisperFeatureExtractor(feature_size=80)(
        [noise.astype(np.float32) * 0.1] * batch, sampling_rate=rate, return_tensors="np"
    ).input_features
    prompt: list[Any] = [["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]]
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(features))
    model.generate(storage, prompt * batch, max_length=32)  # warm-up
    started = time.perf_counter()
    results = model.generate(storage, prompt * batch, max_length=64)
    seconds = time.perf_counter() - started
    if len(results) != batch:
        raise SystemExit(f"whisper: {len(results)} results for {batch} clips")
    print(
        f"whisper: CTranslate2 {ctranslate2.__version__} on {device} ({compute_type}), "
        f"{batch} x {AUDIO_SECONDS:.0f} s of audio in {seconds:.2f} s: "
        f"{batch * AUDIO_SECONDS / seconds:.0f}x real time; {memory(device)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU instead of CUDA")
    parser.add_argument("--streams", type=int, default=8, help="concurrent chat requests")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per request")
    parser.add_argument(
        "--models",
        type=Path,
        help="where the tiny models are built, or found built (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --cpu", file=sys.stderr)
        return 1
    torch.manual_seed(SEED)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {name}")
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp:
        folder = args.models or Path(tmp)
        asyncio.run(chat_part(folder, device, args.streams, args.tokens))
        whisper_part(folder, device, batch=args.streams)
    return 0


if __name__ == "__main__":
    sys.exit(main())
