"""The llama.cpp sampler chain of one request, in vLLM's order, and the JSON-schema grammar it
may carry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_grammar import json_schema_to_gbnf

from models.chat.base import MIN_TEMPERATURE, RequestRejected, SamplingOptions

_RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp draws a random seed


def sampler_chain(
    vocab: Any, options: SamplingOptions, prompt_ids: Sequence[int], context_length: int
) -> Any:
    """A llama.cpp sampler chain (owned by the caller) carrying the request's grammar, penalties,
    sampling and seed: the repetition penalty over the prompt and the completion, presence and
    frequency penalties over the completion, then greedy below MIN_TEMPERATURE, else
    temperature, min_p, top_k, top_p and the seeded draw (vLLM's order)."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)

    def add(sampler: Any) -> None:
        llama_cpp.llama_sampler_chain_add(chain, sampler)

    try:
        if options.json_schema is not None:
            grammar = grammar_of(options.json_schema)
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not sampler:
                raise RequestRejected("llama.cpp cannot compile a grammar from this JSON schema")
            add(sampler)
        if options.repetition_penalty != 1.0:
            repetition = llama_cpp.llama_sampler_init_penalties(
                n_vocab, context_length, options.repetition_penalty, 0.0, 0.0
            )
            for token in prompt_ids:  # the chain accepts each generated token itself
                llama_cpp.llama_sampler_accept(repetition, token)
            add(repetition)
        if options.presence_penalty or options.frequency_penalty:
            add(
                llama_cpp.llama_sampler_init_penalties(
                    n_vocab,
                    options.max_tokens,
                    1.0,
                    options.frequency_penalty,
                    options.presence_penalty,
                )
            )
        if options.temperature < MIN_TEMPERATURE:
            add(llama_cpp.llama_sampler_init_greedy())
            return chain
        add(llama_cpp.llama_sampler_init_temp(options.temperature))
        if options.min_p > 0:
            add(llama_cpp.llama_sampler_init_min_p(options.min_p, 1))
        if options.top_k > 0:
            add(llama_cpp.llama_sampler_init_top_k(options.top_k))
        if options.top_p < 1:
            add(llama_cpp.llama_sampler_init_top_p(options.top_p, 1))
        seed = _RANDOM_SEED if options.seed is None else options.seed % _RANDOM_SEED
        add(llama_cpp.llama_sampler_init_dist(seed))
        return chain
    except BaseException:
        llama_cpp.llama_sampler_free(chain)
        raise


def logits_row(ctx: Any, index: int, n_vocab: int) -> np.ndarray:
    """A copy of the logits llama_decode left for batch position `index` (the model's raw ones:
    the sampler chain, grammar included, works on candidates of its own)."""
    pointer = llama_cpp.llama_get_logits_ith(ctx, index)
    return np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy()


def grammar_of(schema: dict[str, Any]) -> str:
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
