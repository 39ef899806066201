"""Guided JSON for the transformers backend: xgrammar masks each step's logits to the tokens a
JSON schema still allows (the grammar engine vLLM uses by default)."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from typing import Any

import torch
import xgrammar as xgr

from models.chat.base import RequestRejected


class JsonGrammars:
    """The compiler of one model's JSON-schema grammars, built on first use.

    xgrammar's compiler keeps every compiled grammar, keyed by the schema's text, so a schema
    that comes again (a pipeline's, a tool's) is compiled once. `any_whitespace` False makes the
    JSON compact (vLLM's disable_any_whitespace): a model then cannot spend its tokens on
    spaces and newlines between the values, which weak models are prone to do.
    """

    def __init__(
        self, tokenizer: Any, vocab_size: int, stop_ids: Collection[int], any_whitespace: bool
    ) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._stop_ids = sorted(stop_ids)
        self._any_whitespace = any_whitespace
        self._compiler: xgr.GrammarCompiler | None = None
        self._lock = threading.Lock()

    def constraint(self, schema: dict[str, Any]) -> JsonConstraint:
        """A fresh matcher of `schema` for one request; RequestRejected if xgrammar cannot
        compile it."""
        text = json.dumps(schema, sort_keys=True)
        compiler = self._get_compiler()
        try:
            if self._any_whitespace:
                compiled = compiler.compile_json_schema(text)
            else:  # xgrammar 0.2.8 still writes a space after "," and ":" unless told
                compiled = compiler.compile_json_schema(
                    text, any_whitespace=False, separators=(",", ":")
                )
        except (RuntimeError, ValueError, TypeError) as exc:
            raise RequestRejected(f"this JSON schema cannot be enforced: {exc}") from exc
        return JsonConstraint(xgr.GrammarMatcher(compiled), self._vocab_size)

    def _get_compiler(self) -> xgr.GrammarCompiler:
        with self._lock:
            if self._compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self._tokenizer, vocab_size=self._vocab_size, stop_token_ids=self._stop_ids
                )
                self._compiler = xgr.GrammarCompiler(info, max_threads=1)
            return self._compiler


class JsonConstraint:
    """One request's place in its grammar: which tokens may come next, and when it is over."""

    def __init__(self, matcher: xgr.GrammarMatcher, vocab_size: int) -> None:
        self._matcher = matcher
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)

    def mask(self, logits: torch.Tensor) -> None:
        """Set the logits of the tokens the grammar forbids now to -inf, in place."""
        if self._matcher.fill_next_token_bitmask(self._bitmask):
            xgr.apply_token_bitmask_inplace(logits, self._bitmask.to(logits.device))

    def accept(self, token: int) -> None:
        if not self._matcher.accept_token(token):
            raise RuntimeError(f"the JSON grammar refused token {token} after masking it in")

    @property
    def terminated(self) -> bool:
        """The JSON is whole and a stop token was accepted after it: nothing may follow."""
        return bool(self._matcher.is_terminated())
