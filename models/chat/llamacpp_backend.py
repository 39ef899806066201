"""Chat backend on llama.cpp (GGUF, CPU or GPU offload): many requests decoded in one batch.

One thread owns the llama.cpp context. Each running request is one llama.cpp *sequence*
(its own KV cells); every step puts one token of each decoding request, plus prompt chunks of
newly admitted ones, into a single `llama_batch`, so concurrent requests share the weights'
memory traffic instead of queueing one after another (what llama.cpp's own server does with
its parallel slots).
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import json
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import json_schema_to_gbnf

from models.chat.base import (
    ChatBackend,
    Delivery,
    RequestRejected,
    SamplingOptions,
    TextDelta,
    TextStream,
    check_request,
    relay,
)
from models.chat.hf_batching import MIN_TEMPERATURE, BatchStats
from models.chat.slots import SlotScheduler
from models.spec import ModelSpec

log = logging.getLogger(__name__)
_engine_log = logging.getLogger("llama.cpp")

# ggml.h: DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (a line continued); the rest is debug chatter
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}
_RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp draws a random seed


@llama_cpp.llama_log_callback
def _route_engine_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp prints its load chatter to stderr; send it to our logging instead."""
    _engine_log.log(_LOG_LEVELS.get(level, logging.DEBUG), text.decode("utf-8", "replace").rstrip())


@dataclass(eq=False)
class _Request:
    prompt_ids: list[int]
    options: SamplingOptions
    sampler: Any  # llama_sampler_p chain, owned by the scheduler once submitted
    deliver: Any
    cancelled: bool = False
    # scheduler-thread state
    seq: int = -1
    fed: int = 0  # prompt tokens already in the KV cache
    last_token: int = -1
    generated: int = 0
    # bytes to text; a character split over tokens stays inside the decoder until it is whole
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    text: TextStream = field(init=False)

    def __post_init__(self) -> None:
        self.text = TextStream(self.options, self.send)

    def send(self, item: TextDelta | BaseException) -> None:
        try:
            self.deliver(item)
        except RuntimeError:  # the consumer's event loop is closed: nobody is listening
            self.cancelled = True

    @property
    def position(self) -> int:
        return self.fed + max(0, self.generated - 1)


class _Scheduler(SlotScheduler[_Request]):
    """Owns the llama.cpp context: every call into it happens in this one thread. A request's
    llama.cpp sequence id is its slot."""

    def __init__(self, backend: LlamaCppChat, name: str) -> None:
        self._b = backend
        self._batch = llama_cpp.llama_batch_init(backend.n_batch, 0, 1)
        super().__init__(backend.max_batch_size, backend.stats, name)

    def close(self) -> None:
        super().close()
        llama_cpp.llama_batch_free(self._batch)

    def _start(self, request: _Request, slot: int) -> bool:
        request.seq = slot
        return True

    def _step(self) -> None:
        """One llama_decode: a token of every decoding request, then prompt chunks in the room left."""
        batch, budget = self._batch, self._b.n_batch
        outputs: list[tuple[_Request, int]] = []
        n = 0

        def put(token: int, pos: int, seq: int, logits: bool) -> None:
            nonlocal n
            batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, pos, 1
            batch.seq_id[n][0], batch.logits[n] = seq, logits
            n += 1

        active = [r for r in self._slots if r is not None]
        for request in active:
            if request.generated:
                outputs.append((request, n))
                put(request.last_token, request.position, request.seq, True)
        for request in active:
            left = len(request.prompt_ids) - request.fed
            if request.generated or not left or n >= budget:
                continue
            chunk = min(left, budget - n)
            for i in range(request.fed, request.fed + chunk):
                put(request.prompt_ids[i], i, request.seq, i == len(request.prompt_ids) - 1)
            request.fed += chunk
            if request.fed == len(request.prompt_ids):
                outputs.append((request, n - 1))
        batch.n_tokens = n
        status = llama_cpp.llama_decode(self._b.ctx, batch)
        if status != 0:
            error = RuntimeError(f"llama_decode failed with status {status}")
            for request in active:
                self._end(request.seq)
                request.send(error)
            return
        stats = self._b.stats
        stats.decode_steps += 1
        stats.max_batch = max(stats.max_batch, len(outputs))
        for request, index in outputs:
            try:
                going_on = self._advance(request, index)
            except Exception as exc:
                log.exception("sampling failed")
                request.send(exc)
                going_on = False
            if not going_on:
                self._end(request.seq)
        self._count()

    def _advance(self, request: _Request, index: int) -> bool:
        """Sample the request's next token and send the text it makes safe; False when finished."""
        if request.cancelled:
            self._b.stats.aborted += 1
            return False
        token = llama_cpp.llama_sampler_sample(request.sampler, self._b.ctx, index)
        request.generated += 1
        request.last_token = token
        self._b.stats.completion_tokens += 1
        flush = functools.partial(request.decoder.decode, b"", final=True)
        if llama_cpp.llama_vocab_is_eog(self._b.vocab, token):
            return request.text.finish("stop", request.generated, flush())
        return request.text.add(
            request.decoder.decode(self._b.piece(token)),
            request.generated,
            out_of_room=request.position + 1 >= self._b.context_length,
            flush=flush,
        )

    def _release(self, request: _Request) -> None:
        """Free the request's KV cells and sampler (idempotent)."""
        if request.seq >= 0:
            llama_cpp.llama_memory_seq_rm(self._b.memory, request.seq, -1, -1)
            request.seq = -1
        if request.sampler is not None:
            llama_cpp.llama_sampler_free(request.sampler)
            request.sampler = None


class LlamaCppChat(ChatBackend):
    """A GGUF model run by llama.cpp (`llama-cpp-python`), batching concurrent requests.

    Options (`spec.options`):
      gguf_file       the .gguf inside the model folder (default: the only one there, or make
                      `path` the file itself)
      context_length  prompt + completion tokens per request (default 4096, at most the
                      model's training context)
      max_batch_size  requests decoded together (default 4); more wait for a free one. The KV
                      cache holds context_length x max_batch_size tokens.
      n_batch         tokens per llama_decode call (default 512): prompt chunks share it with
                      the decoding requests
      threads         CPU threads (default 1: on a shared 2-core machine 2 threads collapsed to
                      0.3-2.5 tok/s when the other core was busy)
      threads_batch   CPU threads for prompt processing (default: threads); more cuts the time
                      to first token under load where cores are free
      n_gpu_layers    layers offloaded to a GPU in a CUDA/Metal build (default 0)
      use_extra_bufts llama.cpp's repacked CPU weight layouts (default true)
      chat_template   a Jinja chat template replacing the one in the GGUF
    Sampling: temperature (below 1e-5 greedy), top_p after temperature as in vLLM, seed,
    presence/frequency penalties over the generated tokens, stop strings; `json_schema` is
    enforced with a llama.cpp grammar compiled from the schema (string length limits above 64
    characters are left to max_tokens: see _short_limits_only).
    """

    supports_json_schema = True

    def __init__(self, spec: ModelSpec, path: Path) -> None:
        options = spec.options
        gguf = _gguf_file(path, options.get("gguf_file"))
        llama_cpp.llama_backend_init()
        llama_cpp.llama_log_set(_route_engine_log, ctypes.c_void_p(0))
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = int(options.get("n_gpu_layers", 0))
        model_params.use_extra_bufts = bool(options.get("use_extra_bufts", True))
        self._model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), model_params)
        if not self._model:
            raise ValueError(f"llama.cpp could not load {gguf}")
        self.vocab = llama_cpp.llama_model_get_vocab(self._model)
        trained = int(llama_cpp.llama_model_n_ctx_train(self._model))
        self.context_length = min(int(options.get("context_length", 4096)), trained)
        self.max_batch_size = int(options.get("max_batch_size", 4))
        self.n_batch = int(options.get("n_batch", 512))
        if self.max_batch_size < 1 or self.n_batch < self.max_batch_size:
            llama_cpp.llama_model_free(self._model)
            raise ValueError("max_batch_size must be at least 1 and n_batch at least that")
        threads = int(options.get("threads", 1))
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = self.context_length * self.max_batch_size
        ctx_params.n_batch = ctx_params.n_ubatch = self.n_batch
        ctx_params.n_seq_max = self.max_batch_size
        ctx_params.n_threads = threads
        ctx_params.n_threads_batch = int(options.get("threads_batch", threads))
        ctx_params.kv_unified = False  # each sequence owns context_length cells
        self.ctx = llama_cpp.llama_init_from_model(self._model, ctx_params)
        if not self.ctx:
            llama_cpp.llama_model_free(self._model)
            raise ValueError(f"llama.cpp could not create a context for {gguf}")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.stats = BatchStats()
        self._formatter = self._chat_formatter(options.get("chat_template"))
        self._scheduler = _Scheduler(self, spec.id)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> LlamaCppChat:
        return cls(spec, path)

    # --- text ---------------------------------------------------------------------------
    def _chat_formatter(self, template: str | None) -> Jinja2ChatFormatter | None:
        template = template or self._metadata("tokenizer.chat_template")
        if not template:
            return None
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        eos = llama_cpp.llama_vocab_eos(self.vocab)
        return Jinja2ChatFormatter(
            template=template,
            bos_token=self._token_text(bos) if bos >= 0 else "",
            eos_token=self._token_text(eos) if eos >= 0 else "",
        )

    def _metadata(self, key: str) -> str | None:
        size = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), None, 0)
        if size < 0:
            return None
        buffer = ctypes.create_string_buffer(size + 1)
        llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buffer, size + 1)
        return buffer.value.decode("utf-8")

    def _token_text(self, token: int) -> str:
        return self.piece(token, special=True).decode("utf-8", "replace")

    def piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (special tokens only when `special`)."""
        buffer = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, 64, 0, special)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -n, 0, special)
        return buffer.raw[:n]

    def render_chat(self, messages: Sequence[dict[str, Any]]) -> str:
        if self._formatter is None:
            raise ValueError("the model has no chat template; set the chat_template option")
        return self._formatter(messages=list(messages)).prompt  # type: ignore[arg-type]

    def _encode(self, prompt: str) -> list[int]:
        # Special tokens in the text (<|im_start|> from the chat template) are parsed as such;
        # a BOS is added where the model wants one and the prompt does not start with it.
        data = prompt.encode("utf-8")
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        if add_bos and bos >= 0 and prompt.startswith(self._token_text(bos)):
            add_bos = False
        capacity = len(data) + 8
        tokens = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), tokens, capacity, add_bos, True)
        if n < 0:
            raise ValueError(f"llama.cpp could not tokenize the prompt ({n})")
        return list(tokens[:n])

    def count_tokens(self, prompt: str) -> int:
        return len(self._encode(prompt))

    # --- generation ---------------------------------------------------------------------
    def _sampler(self, options: SamplingOptions) -> Any:
        """A llama.cpp sampler chain carrying this request's grammar, penalties, sampling and seed."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        try:
            if options.json_schema is not None:
                grammar = _grammar_of(options.json_schema)
                sampler = llama_cpp.llama_sampler_init_grammar(
                    self.vocab, grammar.encode(), b"root"
                )
                if not sampler:
                    raise RequestRejected(
                        "llama.cpp cannot compile a grammar from this JSON schema"
                    )
                llama_cpp.llama_sampler_chain_add(chain, sampler)
            if options.presence_penalty or options.frequency_penalty:
                llama_cpp.llama_sampler_chain_add(
                    chain,
                    llama_cpp.llama_sampler_init_penalties(
                        llama_cpp.llama_vocab_n_tokens(self.vocab),
                        options.max_tokens,
                        1.0,
                        options.frequency_penalty,
                        options.presence_penalty,
                    ),
                )
            if options.temperature < MIN_TEMPERATURE:
                llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
                return chain
            llama_cpp.llama_sampler_chain_add(
                chain, llama_cpp.llama_sampler_init_temp(options.temperature)
            )
            if options.top_p < 1:
                llama_cpp.llama_sampler_chain_add(
                    chain, llama_cpp.llama_sampler_init_top_p(options.top_p, 1)
                )
            seed = _RANDOM_SEED if options.seed is None else options.seed % _RANDOM_SEED
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
            return chain
        except BaseException:
            llama_cpp.llama_sampler_free(chain)
            raise

    def generate(self, prompt: str, options: SamplingOptions) -> AsyncGenerator[TextDelta, None]:
        # runs on the stream's first step, so a bad prompt fails there, as a stream error
        def start(deliver: Delivery) -> _Request:
            prompt_ids = self._encode(prompt)
            check_request(prompt_ids, self.context_length, options)
            request = _Request(prompt_ids, options, self._sampler(options), deliver)
            self._scheduler.submit(request)
            return request

        return relay(start)

    def close(self) -> None:
        self._scheduler.close()
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self._model)


def _gguf_file(path: Path, name: str | None) -> Path:
    if path.is_file():
        return path
    if name:
        return path / name
    found = sorted(path.glob("*.gguf"))
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} .gguf files; name one with gguf_file")
    return found[0]


def _grammar_of(schema: dict[str, Any]) -> str:
    """The GBNF grammar of a JSON schema. Only local `#/...` references: llama-cpp-python's
    converter would fetch any other `$ref` over HTTP, and nothing here may reach a network."""
    if any(not ref.startswith("#") for ref in _refs(schema)):
        raise RequestRejected("a JSON schema $ref must point inside the schema ('#/...')")
    try:
        return str(json_schema_to_gbnf(json.dumps(_short_limits_only(schema))))
    except (
        AssertionError,  # the converter's way of saying a reference does not resolve
        ValueError,
        KeyError,
        TypeError,
        RecursionError,
        NotImplementedError,
    ) as exc:
        raise RequestRejected(f"this JSON schema cannot be enforced: {exc}") from exc


_MAX_GRAMMAR_LENGTH = 64


def _short_limits_only(node: Any) -> Any:
    """The schema without string length limits above 64: the converter spells a limit of n as n
    nested optional rules, and llama.cpp's grammar parser fails on thousands of them. Longer
    strings are bounded by max_tokens instead (pipelines validate the result afterwards)."""
    if isinstance(node, list):
        return [_short_limits_only(value) for value in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _short_limits_only(value)
        for key, value in node.items()
        if not (
            key in ("maxLength", "minLength")
            and isinstance(value, int)
            and value > _MAX_GRAMMAR_LENGTH
        )
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
