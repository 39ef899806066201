"""The one parser of reasoning-model output (DeepSeek-R1: `<think>reasoning</think>answer`), on
whole texts or streams; the server's `reasoning_content` and the workflows' answers both come
from it."""

from __future__ import annotations

from dataclasses import dataclass

from models.chat.base import stop_holdback

THINK_START = "<think>"
THINK_END = "</think>"


@dataclass(frozen=True)
class ReasoningDelta:
    reasoning: str = ""
    content: str = ""


class ReasoningSplitter:
    """Incremental parser, as vLLM's deepseek_r1 reasoning parser behaves.

    `opened` (a reasoning model): the output starts inside the reasoning. The R1 distills' chat
    template ends the prompt with `<think>\\n`, so the model never writes the opening tag; an
    older template leaves it to the model, and a leading `<think>` is then skipped. Everything
    before `</think>` is reasoning; output that never writes `</think>` (cut off by max_tokens)
    is all reasoning, and there is no answer (vLLM does the same).
    Not `opened` (any other model): the output is the answer, unless it opens with `<think>`.
    Tags may arrive split across any number of deltas; partial tags are held back until resolved.
    """

    def __init__(self, opened: bool = True) -> None:
        self._in_reasoning = opened
        self._pending = ""
        self._seen_any = False

    @property
    def in_reasoning(self) -> bool:
        """Still inside the reasoning: `</think>` has not come (yet)."""
        return self._in_reasoning

    def feed(self, text: str) -> ReasoningDelta:
        self._pending += text
        reasoning, content = [], []
        while self._pending:
            if not self._seen_any:
                stripped = self._pending.lstrip()
                if THINK_START.startswith(stripped) and len(stripped) < len(THINK_START):
                    break  # could still become "<think>"
                if stripped.startswith(THINK_START):
                    self._pending = stripped[len(THINK_START) :]
                    self._in_reasoning = True
                self._seen_any = True
                continue
            if self._in_reasoning:
                end = self._pending.find(THINK_END)
                if end >= 0:
                    reasoning.append(self._pending[:end])
                    self._pending = self._pending[end + len(THINK_END) :]
                    self._in_reasoning = False
                    continue
                keep = stop_holdback(self._pending, (THINK_END,))
                reasoning.append(self._pending[: len(self._pending) - keep])
                self._pending = self._pending[len(self._pending) - keep :]
                break
            content.append(self._pending)
            self._pending = ""
        return ReasoningDelta("".join(reasoning), "".join(content))

    def finish(self) -> ReasoningDelta:
        """Flush what was held back at the end of the stream."""
        rest, self._pending = self._pending, ""
        if self._in_reasoning:
            return ReasoningDelta(reasoning=rest)
        return ReasoningDelta(content=rest)


@dataclass(frozen=True)
class ReasoningSplit:
    """A whole output, split: `closed` is False when the reasoning never ended (no answer)."""

    reasoning: str
    content: str
    closed: bool


def split_reasoning(text: str, opened: bool = True) -> ReasoningSplit:
    """Whole-text form of ReasoningSplitter; the blank lines around the tags are dropped."""
    splitter = ReasoningSplitter(opened)
    first, last = splitter.feed(text), splitter.finish()
    reasoning = first.reasoning + last.reasoning
    content = first.content + last.content
    return ReasoningSplit(reasoning.strip("\n"), content.lstrip("\n"), not splitter.in_reasoning)
