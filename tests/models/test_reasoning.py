"""The <think> splitter must give the same split whatever way the text is cut into tokens."""

from __future__ import annotations

import random

import pytest

from models.chat.base import stop_holdback, truncate_at_stop
from models.chat.reasoning import ReasoningDelta, ReasoningSplitter, split_reasoning

CASES = [
    # (model output, reasoning, content)
    ("<think>\nweigh the price\n</think>\n\nBuy 500 units.", "weigh the price", "Buy 500 units."),
    ("weigh the price\n</think>\n\nBuy 500 units.", "weigh the price", "Buy 500 units."),
    ("<think></think>Hello", "", "Hello"),
    ("still thinking, never closed", "still thinking, never closed", ""),
    ("<think>a < b and </thin is not a tag</think>ok", "a < b and </thin is not a tag", "ok"),
    ("<think>思考</think>答案：义乌小商品", "思考", "答案：义乌小商品"),
]


def _stream(text: str, cuts: list[int]) -> ReasoningDelta:
    splitter = ReasoningSplitter()
    pieces, start = [], 0
    for cut in [*sorted(cuts), len(text)]:
        pieces.append(splitter.feed(text[start:cut]))
        start = cut
    pieces.append(splitter.finish())
    reasoning = "".join(p.reasoning for p in pieces)
    content = "".join(p.content for p in pieces)
    return ReasoningDelta(reasoning.strip("\n"), content.lstrip("\n"))


@pytest.mark.parametrize(("text", "reasoning", "content"), CASES)
def test_whole_text_is_split_into_reasoning_and_answer(
    text: str, reasoning: str, content: str
) -> None:
    assert split_reasoning(text) == ReasoningDelta(reasoning, content)


@pytest.mark.parametrize(("text", "reasoning", "content"), CASES)
def test_tags_split_across_every_token_boundary_give_the_same_split(
    text: str, reasoning: str, content: str
) -> None:
    for cut in range(len(text) + 1):  # every single cut point, tags included
        assert _stream(text, [cut]) == ReasoningDelta(reasoning, content), cut
    rng = random.Random(7)
    for _ in range(200):  # and many random tokenisations
        cuts = rng.sample(range(len(text) + 1), k=min(len(text), rng.randint(1, 8)))
        assert _stream(text, cuts) == ReasoningDelta(reasoning, content), cuts


def test_character_by_character_stream_never_leaks_a_tag_fragment() -> None:
    splitter = ReasoningSplitter()
    text = "<think>plan</think>answer"
    emitted = [splitter.feed(ch) for ch in text] + [splitter.finish()]
    assert all("<" not in d.content and "<" not in d.reasoning for d in emitted)


def test_stop_strings_truncate_and_hold_back_their_prefixes() -> None:
    assert truncate_at_stop("price: 5 USD\nEND more", ["END"]) == ("price: 5 USD\n", True)
    assert truncate_at_stop("no stop here", ["END"]) == ("no stop here", False)
    assert truncate_at_stop("a##b", ["#", "##"]) == ("a", True)
    assert stop_holdback("text E", ["END"]) == 1
    assert stop_holdback("text EN", ["END", "NEXT"]) == 2
    assert stop_holdback("text", ["END"]) == 0
