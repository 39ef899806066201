"""Chat backend on vLLM's async engine: continuous batching, guided JSON, streamed deltas."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

from vllm import AsyncEngineArgs, SamplingParams
from vllm.exceptions import VLLMClientError
from vllm.inputs import tokens_input
from vllm.outputs import CompletionOutput
from vllm.platforms import current_platform
from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
from vllm.v1.engine.async_llm import AsyncLLM

from models.chat.base import (
    ChatBackend,
    FinishReason,
    RequestRejected,
    SamplingOptions,
    TextDelta,
    check_token_ids,
    generation_defaults,
)
from models.chat.logprobs import TokenLogprob, TopLogprob
from models.offline import enforce_offline
from models.spec import ModelSpec

log = logging.getLogger(__name__)

GiB = 1 << 30
# Options of the model table that map one to one onto vLLM's AsyncEngineArgs.
ENGINE_OPTIONS = (
    "max_model_len",
    "dtype",
    "gpu_memory_utilization",
    "enforce_eager",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "distributed_executor_backend",
    "quantization",
)
# Everything else this backend understands, or leaves to others (the server and the workflows
# read reasoning_parser and reasoning_budget_tokens); any other key is probably a typo and gets
# a warning.
KNOWN_OPTIONS = (
    *ENGINE_OPTIONS,
    "kv_cache_space_gb",
    "engine_args",
    "chat_template",
    "reasoning_parser",
    "reasoning_budget_tokens",
    "tool_parser",
)
CPU_DEFAULT_KV_CACHE_GB = 1.0
_COUNTED_KEPT = 256  # counted prompts whose ids wait for their generate (requests in flight)


class VLLMChat(ChatBackend):
    """A model served by vLLM's `AsyncLLM`: many requests share one engine (continuous batching).

    Options (`spec.options`), all optional:
        max_model_len: context window in tokens (default: the model's own); also `context_length`.
        dtype: "auto" (default), "float16", "bfloat16", "float32".
        gpu_memory_utilization: fraction of GPU memory vLLM may take (vLLM default 0.9). On CPU it
            is a fraction of RAM and only matters when no KV cache size is given.
        enforce_eager: no CUDA graphs / torch.compile. Default True on CPU (compiling takes
            minutes there and gains little), vLLM's default (False) on GPU.
        tensor_parallel_size: GPUs to shard the model over (default 1).
        pipeline_parallel_size: stages of layers, one per machine across machines (default 1).
        distributed_executor_backend: "mp" (vLLM's default on one machine: a process per GPU)
            or "ray" (GPUs of several machines joined in a Ray cluster started beforehand).
        quantization: e.g. "awq", "gptq", "fp8" (default: what the checkpoint says).
        kv_cache_space_gb: KV cache size in GiB, passed as vLLM's `kv_cache_memory_bytes` (a
            per-engine setting, unlike the process-wide VLLM_CPU_KVCACHE_SPACE, which still wins
            where an operator exports it). Default on CPU builds: 1 GiB, because vLLM's own
            default (90 % of RAM, checked against one NUMA node) fails on small machines. On GPU
            unset by default: vLLM then sizes the cache from gpu_memory_utilization.
        engine_args: any other AsyncEngineArgs field, verbatim; wins over everything above.
            Mappings for config objects are fine, e.g. `structured_outputs_config:
            {backend: xgrammar, disable_any_whitespace: true}` for compact guided JSON.
        chat_template: a Jinja chat template replacing the tokenizer's own.
        reasoning_parser, reasoning_budget_tokens: read by the server and the workflows (they
            split `<think>` themselves, models.chat.reasoning); ignored here.
        tool_parser: read by the server (it finds the tool calls itself); ignored here.

    The engine core and its model worker run in child processes (vLLM's default
    VLLM_ENABLE_V1_MULTIPROCESSING=1); this process keeps only the tokenizer and the
    asyncio front end. The in-process engine core (VLLM_ENABLE_V1_MULTIPROCESSING=0) starts
    faster but binds the calling process's threads to one core, which would starve the server.
    vLLM on CPU starts its children with `spawn`, so the program that creates the engine needs
    an `if __name__ == "__main__":` guard (uvicorn's and the console script's have one).

    `load` may run in a worker thread: vLLM then starts its output-handler task lazily, on the
    event loop of the first `generate`. Every later request must come from that same loop.

    Every SamplingOptions field goes to vLLM's SamplingParams as it is; the engine adds the
    model's end-of-sequence ids (tokenizer EOS + generation_config.json's eos_token_id) itself.
    sampling_defaults are the generation_config's, read the way vLLM's server reads them.
    """

    supports_json_schema = True

    def __init__(self, engine: AsyncLLM, model_id: str, chat_template: str | None = None) -> None:
        self._engine: AsyncLLM | None = engine
        self._model_id = model_id
        self._chat_template = chat_template
        self._tokenizer = engine.get_tokenizer()
        self.context_length = int(engine.model_config.max_model_len)
        self.sampling_defaults = generation_defaults(engine.model_config.get_diff_sampling_param())
        self._vocab_size = int(engine.model_config.get_vocab_size())
        # Token ids the tokenizer puts in front of every text (a BOS for Llama-style ones).
        self._prefix = list(self._tokenizer.encode("", add_special_tokens=True))
        self._loop: asyncio.AbstractEventLoop | None = None
        # the ids of prompts counted and not yet generated: the server counts a prompt's tokens
        # (on the event loop) just before it runs it, so generate need not encode it again
        self._counted: OrderedDict[str, list[int]] = OrderedDict()

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> VLLMChat:
        if not path.is_dir():
            raise FileNotFoundError(f"vLLM loads from a local model folder; {path} is not one")
        # The server sets these at start-up already; a CLI or pipeline using the backend alone
        # gets them here, before the engine (and its children) read them.
        enforce_offline()
        args = engine_args(spec, path, on_cpu=current_platform.is_cpu())
        log.info("starting vLLM engine for %s: %s", spec.id, args)
        # vLLM's CPU platform hands torch's libgomp (and its tcmalloc, where bundled) to its
        # children through LD_PRELOAD; keep that out of later subprocesses (ffmpeg, espeak-ng).
        ld_preload = os.environ.get("LD_PRELOAD")
        started = time.monotonic()
        try:
            engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**_config_objects(args)))
        finally:
            _restore_env("LD_PRELOAD", ld_preload)
        log.info("vLLM engine for %s ready in %.1f s", spec.id, time.monotonic() - started)
        try:
            return cls(engine, spec.id, spec.options.get("chat_template"))
        except BaseException:
            engine.shutdown()
            raise

    # --- prompts --------------------------------------------------------------------------
    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        text = self._tokenizer.apply_chat_template(
            list(messages),
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            chat_template=self._chat_template,  # None: the tokenizer's own
            tools=list(tools) if tools else None,
        )
        return str(text)

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=add_special_tokens))

    def detokenize(self, ids: Sequence[int]) -> str:
        check_token_ids(ids, self._vocab_size)
        return str(self._tokenizer.decode(list(ids)))

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        check_token_ids(ids, self._vocab_size)
        return list(self._tokenizer.convert_ids_to_tokens(list(ids)))

    def count_tokens(self, prompt: str) -> int:
        ids = self._counted[prompt] = self._encode(prompt)
        if len(self._counted) > _COUNTED_KEPT:
            self._counted.popitem(last=False)
        return len(ids)

    def _encode(self, prompt: str) -> list[int]:
        """Token ids of `prompt`, with the tokenizer's BOS only where the text lacks one.

        Chat templates that want a BOS write it into the text themselves; a raw completion
        prompt gets the one the tokenizer would add. Never two.
        """
        ids = list(self._tokenizer.encode(prompt, add_special_tokens=False))
        prefix = self._prefix
        return ids if not prefix or ids[: len(prefix)] == prefix else prefix + ids

    # --- generation -----------------------------------------------------------------------
    async def generate(
        self, prompt: str, options: SamplingOptions
    ) -> AsyncGenerator[TextDelta, None]:
        engine = self._engine
        if engine is None:
            raise RuntimeError(f"model '{self._model_id}' was unloaded")
        self._check_loop()
        # vLLM would index its logits with them
        check_token_ids(options.stop_token_ids, self._vocab_size, "stop_token_ids")
        ids = self._counted.pop(prompt, None)
        if ids is None:
            ids = await asyncio.to_thread(self._encode, prompt)
        request_id = f"{self._model_id}-{uuid.uuid4().hex}"
        stream = engine.generate(
            tokens_input(ids, prompt=prompt), sampling_params(options), request_id
        )
        completion_tokens = 0
        # aclosing: our caller closing us early (client gone) closes vLLM's generator at once,
        # and vLLM's generator aborts the request in the engine when it is closed or cancelled.
        async with aclosing(stream):
            try:
                async for output in stream:
                    completion = output.outputs[0]
                    completion_tokens += len(completion.token_ids)
                    finish = _finish_reason(completion.finish_reason) if output.finished else None
                    records = _logprobs_of(completion, options.logprobs)
                    if completion.text or finish or records:
                        yield TextDelta(completion.text, completion_tokens, finish, records)
                    if output.finished:
                        return
            except VLLMClientError as exc:  # the request itself is bad (e.g. an unusable schema)
                raise RequestRejected(str(exc)) from exc
        raise RuntimeError(f"vLLM ended request {request_id} without a finish reason")

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                f"model '{self._model_id}' is bound to the event loop of its first request; "
                "load it again to use it from another loop"
            )

    def unfinished_requests(self) -> int:
        """Requests the engine has accepted and not yet finished or aborted."""
        return 0 if self._engine is None else int(self._engine.get_num_unfinished_requests())

    def close(self) -> None:
        """Stop the engine processes; only call it when no request is running (the registry waits)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
            del engine
            # AsyncLLM sits in reference cycles; collect it now, while the interpreter is whole
            # (its __del__ shuts down again and fails noisily at interpreter exit otherwise).
            gc.collect()


def engine_args(spec: ModelSpec, path: Path, *, on_cpu: bool) -> dict[str, Any]:
    """AsyncEngineArgs keywords for `spec` (see VLLMChat for what each option means)."""
    options = spec.options
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        log.warning("model %s: the vllm backend ignores options %s", spec.id, unknown)
    args: dict[str, Any] = {
        "model": str(path),
        "tokenizer": str(path),
        "served_model_name": spec.id,
        # Nobody calls do_log_stats; skip the per-step bookkeeping and the global Prometheus
        # collectors it registers.
        "disable_log_stats": True,
    }
    args.update({name: options[name] for name in ENGINE_OPTIONS if name in options})
    if on_cpu:
        args.setdefault("enforce_eager", True)
    kv_gb = options.get("kv_cache_space_gb", CPU_DEFAULT_KV_CACHE_GB if on_cpu else None)
    if kv_gb is not None:
        args["kv_cache_memory_bytes"] = int(float(kv_gb) * GiB)
    extra = options.get("engine_args") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"model {spec.id}: options.engine_args must be a mapping")
    args.update(extra)
    return args


def _config_objects(args: dict[str, Any]) -> dict[str, Any]:
    """Turn mappings given for vLLM's config-object fields into those objects.

    AsyncEngineArgs converts some (`compilation_config`) itself but not all
    (`structured_outputs_config`); YAML can only spell them as mappings.
    """
    converted = dict(args)
    for f in dataclasses.fields(AsyncEngineArgs):
        value = converted.get(f.name)
        if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if dataclasses.is_dataclass(default) and not isinstance(default, type):
                converted[f.name] = type(default)(**value)
    return converted


def sampling_params(options: SamplingOptions) -> SamplingParams:
    """vLLM SamplingParams for one request, streaming deltas rather than the text so far."""
    structured = (
        StructuredOutputsParams(json=options.json_schema)
        if options.json_schema is not None
        else None
    )
    return SamplingParams(
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        top_p=options.top_p,
        top_k=options.top_k,
        min_p=options.min_p,
        seed=options.seed,
        stop=list(options.stop) or None,
        stop_token_ids=list(options.stop_token_ids) or None,
        presence_penalty=options.presence_penalty,
        frequency_penalty=options.frequency_penalty,
        repetition_penalty=options.repetition_penalty,
        min_tokens=options.min_tokens,
        ignore_eos=options.ignore_eos,
        skip_special_tokens=options.skip_special_tokens,
        spaces_between_special_tokens=options.spaces_between_special_tokens,
        include_stop_str_in_output=options.include_stop_str_in_output,
        structured_outputs=structured,
        logprobs=options.logprobs,
        output_kind=RequestOutputKind.DELTA,
    )


def _logprobs_of(completion: CompletionOutput, top: int | None) -> tuple[TokenLogprob, ...]:
    """Our records of the new tokens' logprobs: each step of vLLM's holds the sampled token and
    the `top` likeliest ones (ranked from 1), each with its decoded text."""
    if top is None or completion.logprobs is None:
        return ()
    records = []
    for i, token in enumerate(completion.token_ids):
        step = completion.logprobs[i]
        best = sorted(
            (p for p in step.values() if p.rank is not None and p.rank <= top),
            key=lambda p: p.rank or 0,
        )
        records.append(
            TokenLogprob(
                step[token].decoded_token or "",
                step[token].logprob,
                tuple(TopLogprob(p.decoded_token or "", p.logprob) for p in best),
            )
        )
    return tuple(records)


def _finish_reason(reason: str | None) -> FinishReason:
    if reason == "length":
        return "length"
    if reason in ("stop", "repetition", None):
        return "stop"
    # "abort" (someone else aborted it) or "error" (e.g. a failed KV load): no answer to give.
    raise RuntimeError(f"vLLM finished the request with '{reason}'")


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
