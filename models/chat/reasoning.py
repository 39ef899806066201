"""Split DeepSeek-R1 style `<think>...</think>` reasoning from the answer, on whole texts or streams."""

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

    R1 distills' chat template already opens `<think>` in the prompt, so the model's output may
    start inside the reasoning without a start tag: everything before `</think>` is reasoning.
    Output with neither tag before it ends is reasoning that never closed (vLLM does the same).
    Tags may arrive split across any number of deltas; partial tags are held back until resolved.
    """

    def __init__(self) -> None:
        self._in_reasoning = True
        self._pending = ""
        self._seen_any = False

    def feed(self, text: str) -> ReasoningDelta:
        self._pending += text
        reasoning, content = [], []
        while self._pending:
            if self._in_reasoning:
                if not self._seen_any:
                    stripped = self._pending.lstrip()
                    if THINK_START.startswith(stripped) and len(stripped) < len(THINK_START):
                        break  # could still become "<think>"
                    if stripped.startswith(THINK_START):
                        self._pending = stripped[len(THINK_START) :]
                    self._seen_any = True
                    continue
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


def split_reasoning(text: str) -> ReasoningDelta:
    """Whole-text form of ReasoningSplitter."""
    splitter = ReasoningSplitter()
    first, last = splitter.feed(text), splitter.finish()
    reasoning = first.reasoning + last.reasoning
    content = first.content + last.content
    return ReasoningDelta(reasoning.strip("\n"), content.lstrip("\n"))
