"""The one parser of reasoning output: each shape an R1 distill writes, split the same whatever
way the text is cut into tokens."""

from __future__ import annotations

import random
from typing import Any

import pytest

from models.chat.base import stop_holdback, truncate_at_stop
from models.chat.reasoning import ReasoningDelta, ReasoningSplitter, split_reasoning
from models.spec import ModelSpec

CASES = [
    # (a reasoning model's output, reasoning, content)
    ("<think>\nweigh the price\n</think>\n\nBuy 500 units.", "weigh the price", "Buy 500 units."),
    # the template opened <think>: the model writes no opening tag
    ("weigh the price\n</think>\n\nBuy 500 units.", "weigh the price", "Buy 500 units."),
    ("<think></think>Hello", "", "Hello"),
    # cut off by max_tokens before </think>: all reasoning, no answer
    ("still thinking, never closed", "still thinking, never closed", ""),
    # the reasoning ends and the answer is empty
    ("weigh the price\n</think>\n\n", "weigh the price", ""),
    ("<think>a < b and </thin is not a tag</think>ok", "a < b and </thin is not a tag", "ok"),
    ("<think>思考</think>答案：义乌小商品", "思考", "答案：义乌小商品"),
    # the reasoning drafts the answer in its language, with its markers; only the end counts
    (
        "Deutsch: 'Nur $12.99 für 2 Flaschen.' Antwort:\n</think>\n\nNur $12.99 für 2 Flaschen.",
        "Deutsch: 'Nur $12.99 für 2 Flaschen.' Antwort:",
        "Nur $12.99 für 2 Flaschen.",
    ),
    ("Übersetzung: Nur $12.99 für 2 Flaschen.", "Übersetzung: Nur $12.99 für 2 Flaschen.", ""),
]


def _stream(text: str, cuts: list[int], opened: bool = True) -> ReasoningDelta:
    splitter = ReasoningSplitter(opened)
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
    split = split_reasoning(text)
    assert (split.reasoning, split.content) == (reasoning, content)
    assert split.closed == ("</think>" in text)  # unclosed: thinking, never an answer


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


@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        ("Buy 500 units.", "", "Buy 500 units."),
        ("<think>weigh</think>\n\nBuy 500 units.", "weigh", "Buy 500 units."),
        ("price </think> is not a tag here", "", "price </think> is not a tag here"),
        ("<thi", "", "<thi"),
    ],
)
def test_a_model_that_answers_at_once_is_all_answer_unless_it_opens_a_think(
    text: str, reasoning: str, content: str
) -> None:
    split = split_reasoning(text, opened=False)
    assert (split.reasoning, split.content, split.closed) == (reasoning, content, True)
    for cut in range(len(text) + 1):
        assert _stream(text, [cut], opened=False) == ReasoningDelta(reasoning, content), cut


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


def test_the_thinking_budget_is_a_reasoning_models_and_typos_fail_at_start_up() -> None:
    def spec(**options: object) -> ModelSpec:
        return ModelSpec(id="r1", kind="chat", backend="vllm", options=options)

    assert spec().reasoning_budget_tokens is None  # answers at once
    assert spec(reasoning_parser="deepseek_r1").reasoning_budget_tokens == 1024
    thinker = spec(reasoning_parser="deepseek_r1", reasoning_budget_tokens=256)
    assert thinker.reasoning_budget_tokens == 256
    wrongs: list[tuple[dict[str, Any], str]] = [
        ({"reasoning_parser": "deepseek-r1"}, "unknown reasoning_parser"),
        ({"reasoning_budget_tokens": 256}, "set reasoning_parser too"),
        ({"reasoning_parser": "deepseek_r1", "reasoning_budget_tokens": 0}, "a count >= 1"),
    ]
    for wrong, message in wrongs:
        with pytest.raises(ValueError, match=message):
            spec(**wrong)
