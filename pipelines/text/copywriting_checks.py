"""Turning a model's answer into copy that validates: the JSON found and its common small-model
slips repaired, the checks beyond the schema (language, repetition, invented prices), and the
copy's facts grounded in the product facts (pipelines.text.grounding)."""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.languages import Language, script_share, script_units
from pipelines.quality import (
    degeneration_problems,
    language_problems,
    lines_problems,
    unique_lines,
)
from pipelines.text.copywriting_schema import (
    MAX_LINE_CHARS,
    MAX_POINTS,
    MAX_SCRIPT_LINES,
    CopyField,
    ProductCopy,
    ProductFacts,
    Ungrounded,
    UngroundedAction,
)
from pipelines.text.grounding import describe_ungrounded, ungrounded_facts
from pipelines.text.guardrails import protected_tokens

_KEY_ALIASES = {
    "title": "title",
    "product_title": "title",
    "headline": "title",
    "selling_points": "selling_points",
    "sellingpoints": "selling_points",
    "bullet_points": "selling_points",
    "bullets": "selling_points",
    "key_features": "selling_points",
    "features": "selling_points",
    "description": "description",
    "product_description": "description",
    "video_script": "video_script",
    "videoscript": "video_script",
    "script": "video_script",
}


def extract_json(text: str) -> Any:
    """The first JSON object in `text`, tolerating prose or code fences around it (or a false
    start before it), raw line breaks in strings, smart quotes and trailing commas.
    Raises ValueError if there is none."""
    starts = [i for i, char in enumerate(text) if char == "{"][:20]
    if not starts:
        raise ValueError("the answer contains no JSON object")
    first_error: json.JSONDecodeError | None = None
    for start in starts:
        candidate = _balanced(text[start:])
        tidied = re.sub(r",\s*([}\]])", r"\1", candidate.replace("“", '"').replace("”", '"'))
        for attempt in (candidate, tidied):
            try:
                return json.loads(attempt, strict=False)
            except json.JSONDecodeError as exc:
                first_error = first_error or exc
    assert first_error is not None
    raise ValueError(f"the JSON is malformed: {first_error.msg} at character {first_error.pos}")


def _balanced(text: str) -> str:
    """Cut `text` after the brace that closes its first one (ignoring braces inside strings)."""
    depth, in_string, escaped = 0, False, False
    for i, char in enumerate(text):
        if in_string:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    return text


def _lines(value: Any) -> Any:
    if isinstance(value, str):
        return [
            re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line)
            for line in value.splitlines()
            if line.strip()
        ]
    return value


def repair(data: Any) -> Any:
    """Undo slips that keep a usable answer from validating: other key names, a list written as
    one string, script lines written as plain strings. Anything else is left to validation."""
    if not isinstance(data, dict):
        return data
    fixed: dict[str, Any] = {}
    for key, value in data.items():
        name = _KEY_ALIASES.get(re.sub(r"[\s-]+", "_", str(key)).lower().replace("__", "_"))
        if name is not None and name not in fixed:
            fixed[name] = value
    if "selling_points" in fixed:
        points = _lines(fixed["selling_points"])
        if isinstance(points, list):  # a few too many is still a good answer: keep the first
            points = [p for p in points if not isinstance(p, str) or p.strip()][:MAX_POINTS]
        fixed["selling_points"] = points
    script = _lines(fixed.get("video_script"))
    if isinstance(script, list):
        lines = [
            {"visual": "", "voiceover": line} if isinstance(line, str) else line for line in script
        ]
        fixed["video_script"] = [piece for line in lines for piece in _split_long(line)][
            :MAX_SCRIPT_LINES
        ]
    return fixed


# where a sentence ends: 。！？!? anywhere, a full stop before a space (not the one in "3.20")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s)")


def _split_long(line: Any) -> list[Any]:
    """A voice-over too long for one script line, as several lines cut between its sentences
    (the same words: a small model writes the whole script as one line, in Chinese often)."""
    voiceover = line.get("voiceover") if isinstance(line, dict) else None
    if not isinstance(voiceover, str) or len(voiceover.strip()) <= MAX_LINE_CHARS:
        return [line]
    pieces = [""]
    for sentence in _SENTENCE_END.split(voiceover.strip()):
        if pieces[-1] and len(pieces[-1] + sentence) > MAX_LINE_CHARS:
            pieces.append("")
        pieces[-1] += sentence
    return [line | {"voiceover": piece.strip()} for piece in pieces if piece.strip()]


def without_repeats(copy: ProductCopy) -> ProductCopy:
    """The copy with later repeats of a selling point or a voice-over line dropped, where enough
    remain: a small model often restates its first point last (the checks still refuse a loop)."""
    points = unique_lines(copy.selling_points)
    script = unique_lines(copy.video_script, lambda line: line.voiceover)
    return copy.model_copy(
        update={
            "selling_points": points if len(points) >= 3 else copy.selling_points,
            "video_script": script or copy.video_script,
        }
    )


def copy_problems(copy: ProductCopy, facts: ProductFacts, language: Language) -> list[str]:
    """Checks beyond the schema: written in the target language, no loop or repeated line, no
    invented price."""
    problems = []
    text = " ".join([copy.title, *copy.selling_points, copy.description])
    if sum(script_units(text).values()) >= 3:
        problems.extend(language_problems(text, language, min_share=0.4))
    for field, value in (("title", copy.title), ("description", copy.description)):
        problems.extend(f"{field}: {p}" for p in degeneration_problems(value))
    for field, lines in (
        ("selling_points", copy.selling_points),
        ("video_script", [line.voiceover for line in copy.video_script]),
    ):
        problems.extend(f"{field}: {p}" for p in lines_problems(lines))
    # "$12.99" or "12.99美元" for a price given as "USD 12.99" is fine: the amounts are compared
    allowed = {t.quantity.value for t in protected_tokens(facts.price or "") if t.quantity}
    invented = {
        t.text
        for t in protected_tokens(text)
        if t.kind == "price" and t.quantity and t.quantity.value not in allowed
    }
    if invented:
        problems.append(
            f"mentions prices not in the facts: {', '.join(sorted(invented))}"
            + (f" (the price is {facts.price})" if facts.price else " (give no price)")
        )
    return problems


# --- grounding ----------------------------------------------------------------------------------
def _sources(facts: ProductFacts) -> list[str]:
    return [*facts.as_lines(), facts.transcript or ""]


def _pieces(copy: ProductCopy) -> list[tuple[CopyField, str]]:
    """Each line of the copy a buyer reads or hears, with its field: the description sentence by
    sentence (a sentence can go on its own)."""
    return [
        ("title", copy.title),
        *(("selling_points", point) for point in copy.selling_points),
        *(("description", s.strip()) for s in _SENTENCE_END.split(copy.description) if s.strip()),
        *(("video_script", line.voiceover) for line in copy.video_script),
    ]


def ungrounded_copy(copy: ProductCopy, facts: ProductFacts) -> list[str]:
    """The copy's facts that the product facts do not give, as problems to retry on."""
    sources = _sources(facts)
    return [
        f"{field}: {describe_ungrounded(found)} in none of the facts given"
        for field, line in _pieces(copy)
        if (found := ungrounded_facts(line, sources))
    ]


def grounded_copy(
    copy: ProductCopy, facts: ProductFacts, language: Language
) -> tuple[ProductCopy, list[Ungrounded]]:
    """The copy without the lines that state what the facts do not give, and what was found:
    a selling point, script line or description sentence is removed where enough remain (the
    schema's minimum), an ungrounded title becomes the product's name where that is written in
    the copy's script; what has to stay is reported as kept, for the merchant to check."""
    sources = _sources(facts)
    found = {line: ungrounded_facts(line, sources) for _, line in _pieces(copy)}
    report: list[Ungrounded] = []

    def keep(field: CopyField, lines: list[str], minimum: int) -> list[bool]:
        kept = [True] * len(lines)
        for i, line in enumerate(lines):
            removable = sum(kept) > minimum
            kept[i] = not (found[line] and removable)
            action: UngroundedAction = "kept" if kept[i] else "removed"
            report.extend(Ungrounded(field=field, line=line, fact=f.fact, action=action)
                          for f in found[line])  # fmt: skip
        return kept

    title = copy.title
    if found[title]:
        renamed = script_share(facts.name, language)[0] >= 0.5
        report.extend(
            Ungrounded(
                field="title", line=title, fact=f.fact, action="removed" if renamed else "kept"
            )
            for f in found[title]
        )
        title = facts.name if renamed else title
    points = keep("selling_points", copy.selling_points, 3)
    sentences = [s.strip() for s in _SENTENCE_END.split(copy.description) if s.strip()]
    said = keep("description", sentences, 1)
    spoken = keep("video_script", [line.voiceover for line in copy.video_script], 1)
    joiner = "" if all(s[-1:] in "。！？" for s in sentences) else " "
    return copy.model_copy(
        update={
            "title": title,
            "selling_points": [p for p, k in zip(copy.selling_points, points, strict=True) if k],
            "description": joiner.join(s for s, k in zip(sentences, said, strict=True) if k),
            "video_script": [line for line, k in zip(copy.video_script, spoken, strict=True) if k],
        }
    ), report
