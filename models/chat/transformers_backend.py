"""Chat backend on plain `transformers` (CPU or GPU), batching concurrent requests (see hf_batching)."""

from __future__ import annotations

import copy
import gc
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import AttentionInterface, AutoModelForCausalLM, AutoTokenizer

from models.chat.base import (
    ChatBackend,
    Delivery,
    SamplingOptions,
    StopTokens,
    TextDelta,
    check_request,
    check_token_ids,
    end_of_sequence_ids,
    generation_defaults,
    relay,
)
from models.chat.hf_batching import ATTENTION, Engine, Request, Scheduler, per_request_attention
from models.chat.hf_grammar import JsonGrammars
from models.chat.slots import BatchStats
from models.spec import ModelSpec

log = logging.getLogger(__name__)

# torch's own choice (the physical cores), read before any scheduler thread changes it.
_TORCH_THREADS = torch.get_num_threads()


# --- the backend ----------------------------------------------------------------------------
def _dtype(name: str | None, device: torch.device) -> torch.dtype | str:
    if name is None:
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if name == "auto":
        return "auto"
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype '{name}' (use float32, bfloat16, float16 or auto)")
    return dtype


def _threads(option: Any, device: torch.device) -> int | None:
    if option is not None:
        return int(option)
    return max(1, _TORCH_THREADS - 1) if device.type == "cpu" else None


class TransformersChat(ChatBackend):
    """A causal LM run by `transformers` (CPU or one GPU), with batched decoding of concurrent requests.

    Options (`spec.options`):
      gguf_file       name of a GGUF file inside the model folder (or make `path` the .gguf file);
                      transformers dequantises it on load (needs the `gguf` package)
      dtype           float32 (default on CPU), bfloat16 (default on GPU), float16 or auto
      device          cpu (default), cuda, cuda:1, ...
      max_batch_size  requests decoded together (default 8); more wait for a free slot
      context_length  prompt + completion tokens (default: the config's max_position_embeddings)
      chat_template   a Jinja chat template replacing the tokenizer's own
      batch_invariant keep the decode batch at max_batch_size rows so a seeded request's text
                      never depends on its batch-mates (default true; false saves compute
                      when few requests run, at the price of that guarantee)
      threads         torch CPU threads (default on CPU: one less than the cores torch sees, at
                      least 1: with every core in torch's pool, the event loop thread that
                      streams the tokens stalls each step; on a busy 2-core machine 2 threads
                      ran 5-25x slower than 1). torch applies it to threads started later too.
      disable_any_whitespace  guided JSON without whitespace between its tokens (vLLM's
                      structured-outputs option of that name; default false)
    Other options (e.g. reasoning_parser) belong to the server and are ignored here.
    Sampling follows vLLM (see TokenSampler), every SamplingOptions field included: presence
    and frequency penalties count the generated tokens only, the repetition penalty the prompt's
    too. `json_schema` is enforced with an xgrammar grammar (see hf_grammar); logprobs are those
    of the model's logits (see models/chat/logprobs.py).
    A generation ends at the tokenizer's EOS or any eos_token_id of generation_config.json,
    the ids vLLM stops at; the sampling fields generation_config sets become sampling_defaults.

    Determinism: the same prompt with the same seed (or temperature 0) gives the same text,
    whatever other requests run beside it: each prompt is prefilled alone, attention reads only
    the request's own positions, sampling uses the request's own generator, and (with
    batch_invariant) the matrix products always see one shape. Checked on CPU (MKL); a BLAS
    whose per-row results depend on the other rows' values would break it (none known).
    Only full-attention decoder models are supported (not sliding-window layers).
    """

    supports_json_schema = True

    def __init__(
        self,
        engine: Engine,
        tokenizer: Any,
        chat_template: str | None,
        name: str,
        sampling_defaults: dict[str, float] | None = None,
    ):
        self.context_length = engine.context_length
        self.sampling_defaults = sampling_defaults or {}
        self._vocab_size = int(engine.model.config.vocab_size)
        self._engine = engine
        self._tokenizer = tokenizer
        self._chat_template = chat_template
        self._scheduler = Scheduler(engine, name)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> TransformersChat:
        options = spec.options
        folder, gguf_file = path, options.get("gguf_file")
        if path.is_file() and path.suffix == ".gguf":
            folder, gguf_file = path.parent, path.name
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        device = torch.device(options.get("device", "cpu"))
        AttentionInterface.register(ATTENTION, per_request_attention)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            dtype=_dtype(options.get("dtype"), device),
            attn_implementation=ATTENTION,
            local_files_only=True,
            **extra,
        )
        model = model.to(device).eval()  # type: ignore[arg-type]
        layer_types = set(getattr(model.config, "layer_types", None) or ["full_attention"])
        if layer_types != {"full_attention"}:
            raise ValueError(
                f"layer types {sorted(layer_types)} are not supported by the transformers "
                "backend (full attention only); serve this model with vllm"
            )
        generation_config = model.generation_config.to_diff_dict()
        eos_ids = end_of_sequence_ids(tokenizer.eos_token_id, model.generation_config.to_dict())
        if not eos_ids:
            raise ValueError("the model names no end-of-sequence token")
        thread_tokenizer = copy.deepcopy(tokenizer)
        engine = Engine(
            model=model,
            tokenizer=thread_tokenizer,
            eos_ids=eos_ids,
            context_length=int(
                options.get("context_length") or model.config.max_position_embeddings
            ),
            max_batch_size=int(options.get("max_batch_size", 8)),
            batch_invariant=bool(options.get("batch_invariant", True)),
            device=device,
            threads=_threads(options.get("threads"), device),
            grammars=JsonGrammars(
                thread_tokenizer,
                int(model.config.vocab_size),
                eos_ids,
                any_whitespace=not options.get("disable_any_whitespace", False),
            ),
        )
        if engine.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        return cls(
            engine,
            tokenizer,
            options.get("chat_template"),
            spec.id,
            generation_defaults(generation_config),
        )

    @property
    def stats(self) -> BatchStats:
        """A snapshot of the scheduler's counters."""
        return replace(self._engine.stats)

    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        template = self._chat_template or self._tokenizer.chat_template
        if not template:
            raise ValueError("the model has no chat template; set the chat_template option")
        return str(
            self._tokenizer.apply_chat_template(
                list(messages),
                chat_template=template,
                add_generation_prompt=add_generation_prompt,
                tokenize=False,
                tools=list(tools) if tools else None,
            )
        )

    def _encode(self, prompt: str) -> list[int]:
        # A rendered chat prompt already starts with the template's special tokens.
        bos = self._tokenizer.bos_token
        add_special = not (bos and prompt.startswith(bos))
        return list(self._tokenizer(prompt, add_special_tokens=add_special).input_ids)

    def count_tokens(self, prompt: str) -> int:
        return len(self._encode(prompt))

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=add_special_tokens).input_ids)

    def detokenize(self, ids: Sequence[int]) -> str:
        check_token_ids(ids, self._vocab_size)
        return str(self._tokenizer.decode(list(ids)))

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        check_token_ids(ids, self._vocab_size)
        return list(self._tokenizer.convert_ids_to_tokens(list(ids)))

    def generate(self, prompt: str, options: SamplingOptions) -> AsyncGenerator[TextDelta, None]:
        # runs on the stream's first step, so a bad prompt fails there, as a stream error
        def start(deliver: Delivery) -> Request:
            prompt_ids = self._encode(prompt)
            check_request(prompt_ids, self.context_length, options, self._vocab_size)
            stops = StopTokens.of(self._engine.eos_ids, options)
            request = Request(prompt_ids, options, stops, deliver)
            self._scheduler.submit(request)
            return request

        return relay(start)

    def close(self) -> None:
        self._scheduler.close()
        self._engine.model = None
        gc.collect()
        if self._engine.device.type == "cuda":
            torch.cuda.empty_cache()
