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
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from models.chat.base import (
    ChatBackend,
    Delivery,
    SamplingOptions,
    StopTokens,
    TextDelta,
    TextStream,
    check_request,
    check_token_ids,
    end_of_sequence_ids,
    generation_defaults,
    relay,
)
from models.chat.gguf import gguf_file, read_generation_config
from models.chat.llamacpp_cpu import load_cpu_variant
from models.chat.llamacpp_sampling import logits_row, sampler_chain
from models.chat.logprobs import PendingLogprobs, token_logprob
from models.chat.slots import BatchStats, SlotScheduler
from models.spec import ModelSpec

log = logging.getLogger(__name__)
_engine_log = logging.getLogger("llama.cpp")

# ggml.h: DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (a line continued); the rest is debug chatter
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}


@llama_cpp.llama_log_callback
def _route_engine_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp prints its load chatter to stderr; send it to our logging instead."""
    _engine_log.log(_LOG_LEVELS.get(level, logging.DEBUG), text.decode("utf-8", "replace").rstrip())


@dataclass(eq=False)
class _Request:
    prompt_ids: list[int]
    options: SamplingOptions
    stops: StopTokens
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
    logprobs: PendingLogprobs = field(default_factory=PendingLogprobs)

    def __post_init__(self) -> None:
        self.text = TextStream(self.options, self.send)

    def send(self, item: TextDelta | BaseException) -> None:
        if isinstance(item, TextDelta) and (records := self.logprobs.take()):
            item = replace(item, logprobs=records)
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
        self._threads_batch = backend.threads  # what the context's n_threads_batch is now
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
        decoding = n
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
        # llama.cpp runs every batch of more than one token on n_threads_batch, decode steps of
        # several requests too: only a step that carries prompt tokens gets threads_batch, so
        # prefill takes the spare cores while decoding keeps to `threads` (steady on a shared box)
        self._use_threads_batch(self._b.threads_batch if n > decoding else self._b.threads)
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

    def _use_threads_batch(self, threads: int) -> None:
        if threads != self._threads_batch:
            llama_cpp.llama_set_n_threads(self._b.ctx, self._b.threads, threads)
            self._threads_batch = threads

    def _advance(self, request: _Request, index: int) -> bool:
        """Sample the request's next token and send the text it makes safe; False when finished."""
        if request.cancelled:
            self._b.stats.aborted += 1
            return False
        options = request.options
        top, row = options.logprobs, None
        if top is not None:  # before min_tokens edits the logits, as vLLM's raw logprobs
            row = logits_row(self._b.ctx, index, llama_cpp.llama_vocab_n_tokens(self._b.vocab))
        held = request.stops.held_now(request.generated, options)
        if held:  # min_tokens: llama_sampler_sample reads the logits where llama_decode left them
            logits = llama_cpp.llama_get_logits_ith(self._b.ctx, index)
            for held_token in held:
                logits[held_token] = float("-inf")
        token = llama_cpp.llama_sampler_sample(request.sampler, self._b.ctx, index)
        request.generated += 1
        request.last_token = token
        self._b.stats.completion_tokens += 1
        piece = self._b.piece(token, not options.skip_special_tokens)
        flush = request.logprobs.crediting(
            functools.partial(request.decoder.decode, b"", final=True)
        )
        stop = token in request.stops.ends
        # the stop token's own text only where the request asks for it (as in vLLM)
        keep = options.include_stop_str_in_output or not stop
        text = request.decoder.decode(piece) if keep else ""
        tail = flush() if stop else ""  # before the stop token's record: not its text
        if row is not None and top is not None:  # a stop token's entry shows its own text
            shown = self._b._token_text(token) if stop and not text else text
            request.logprobs.add(token_logprob(row, token, shown, top, self._b._token_text))
        if stop:
            return request.text.finish("stop", request.generated, text + tail)
        return request.text.add(
            text,
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
      threads_batch   CPU threads of the steps that carry prompt tokens (default: threads);
                      steps that only decode keep to `threads`. More cuts the time to first
                      token where cores are free
      n_gpu_layers    layers offloaded to a GPU in a CUDA/Metal build (default 0)
      use_extra_bufts llama.cpp's repacked CPU weight layouts (default true)
      chat_template   a Jinja chat template replacing the one in the GGUF
    Sampling: every SamplingOptions field, as vLLM applies it (see sampler_chain); min_tokens
    masks the stop ids in the logits. `json_schema` is enforced with a llama.cpp grammar
    compiled from the schema (string length limits above 64 characters are left to max_tokens).
    logprobs are the model's raw ones (models/chat/logprobs.py), but taken before the grammar:
    under a JSON schema they still give the tokens it forbids their share (vLLM's do not).
    Special tokens are written as their bare text (skip_special_tokens false): no spaces around
    them whatever spaces_between_special_tokens says, which is what vLLM's detokenizer gives for
    byte-level BPE vocabularies (Qwen, Llama 3) either way.
    A generation ends where vLLM's would for the same model: at the GGUF's EOS and end-of-turn
    tokens and the eos_token_id of a generation_config.json beside the file (not at the other
    tokens llama.cpp counts as end-of-generation, e.g. Qwen's <|endoftext|> and fill-in-the-
    middle tokens, which vLLM serving the GGUF does not stop at). generation_config.json's
    sampling fields become sampling_defaults.
    """

    supports_json_schema = True

    def __init__(self, spec: ModelSpec, path: Path) -> None:
        options = spec.options
        gguf = gguf_file(path, options.get("gguf_file"))
        llama_cpp.llama_log_set(_route_engine_log, ctypes.c_void_p(0))
        load_cpu_variant()
        llama_cpp.llama_backend_init()
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
        self.threads = int(options.get("threads", 1))
        self.threads_batch = int(options.get("threads_batch", self.threads))
        ctx_params = llama_cpp.llama_context_default_params()
        ctx_params.n_ctx = self.context_length * self.max_batch_size
        ctx_params.n_batch = ctx_params.n_ubatch = self.n_batch
        ctx_params.n_seq_max = self.max_batch_size
        ctx_params.n_threads = ctx_params.n_threads_batch = self.threads
        ctx_params.kv_unified = False  # each sequence owns context_length cells
        self.ctx = llama_cpp.llama_init_from_model(self._model, ctx_params)
        if not self.ctx:
            llama_cpp.llama_model_free(self._model)
            raise ValueError(f"llama.cpp could not create a context for {gguf}")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.stats = BatchStats()
        generation_config = read_generation_config(gguf)
        self.sampling_defaults = generation_defaults(generation_config)
        eot = llama_cpp.llama_vocab_eot(self.vocab)
        self.eos_ids = end_of_sequence_ids(llama_cpp.llama_vocab_eos(self.vocab), generation_config)
        self.eos_ids |= {eot} if eot >= 0 else set()
        self._formatters = {
            opened: self._chat_formatter(options.get("chat_template"), opened)
            for opened in (True, False)
        }
        self._scheduler = _Scheduler(self, spec.id)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> LlamaCppChat:
        return cls(spec, path)

    # --- text ---------------------------------------------------------------------------
    def _chat_formatter(
        self, template: str | None, add_generation_prompt: bool
    ) -> Jinja2ChatFormatter | None:
        template = template or self._metadata("tokenizer.chat_template")
        if not template:
            return None
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        eos = llama_cpp.llama_vocab_eos(self.vocab)
        return Jinja2ChatFormatter(
            template=template,
            bos_token=self._token_text(bos) if bos >= 0 else "",
            eos_token=self._token_text(eos) if eos >= 0 else "",
            add_generation_prompt=add_generation_prompt,
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

    def render_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        formatter = self._formatters[add_generation_prompt]
        if formatter is None:
            raise ValueError("the model has no chat template; set the chat_template option")
        rendered = formatter(messages=list(messages), tools=list(tools) if tools else None)  # type: ignore[arg-type]
        return rendered.prompt

    def _encode(self, prompt: str) -> list[int]:
        # A BOS is added where the model wants one and the prompt does not start with it.
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        bos = llama_cpp.llama_vocab_bos(self.vocab)
        if add_bos and bos >= 0 and prompt.startswith(self._token_text(bos)):
            add_bos = False
        return self.tokenize(prompt, add_bos)

    def count_tokens(self, prompt: str) -> int:
        return len(self._encode(prompt))

    def tokenize(self, text: str, add_special_tokens: bool) -> list[int]:
        # Special tokens in the text (<|im_start|> from the chat template) are parsed as such.
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(
            self.vocab, data, len(data), tokens, capacity, add_special_tokens, True
        )
        if n < 0:
            raise ValueError(f"llama.cpp could not tokenize the text ({n})")
        return list(tokens[:n])

    def detokenize(self, ids: Sequence[int]) -> str:
        # llama.cpp aborts the process on an id outside its vocabulary
        check_token_ids(ids, llama_cpp.llama_vocab_n_tokens(self.vocab))
        tokens = (llama_cpp.llama_token * len(ids))(*ids)
        size = 16 * len(ids) + 16
        for _ in range(2):  # a negative answer is the size the text needs
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_detokenize(self.vocab, tokens, len(ids), buffer, size, False, True)
            if n >= 0:
                return buffer.raw[:n].decode("utf-8", "replace")
            size = -n
        raise ValueError(f"llama.cpp could not detokenize the ids ({n})")

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        check_token_ids(ids, llama_cpp.llama_vocab_n_tokens(self.vocab))
        return [llama_cpp.llama_vocab_get_text(self.vocab, token).decode() for token in ids]

    # --- generation ---------------------------------------------------------------------
    def generate(self, prompt: str, options: SamplingOptions) -> AsyncGenerator[TextDelta, None]:
        # runs on the stream's first step, so a bad prompt fails there, as a stream error
        def start(deliver: Delivery) -> _Request:
            prompt_ids = self._encode(prompt)
            n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
            check_request(prompt_ids, self.context_length, options, n_vocab)
            stops = StopTokens.of(self.eos_ids, options)
            sampler = sampler_chain(self.vocab, options, prompt_ids, self.context_length)
            request = _Request(prompt_ids, options, stops, sampler, deliver)
            self._scheduler.submit(request)
            return request

        return relay(start)

    def close(self) -> None:
        self._scheduler.close()
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self._model)
