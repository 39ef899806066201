"""Deterministic repair of a translation that lost a code: a SKU, URL, e-mail, size or product
name the source gives and the model wrote wrongly ("YW8823", "yw-8823", "YW-8832") or left out.

A code means nothing in any language, so putting the source's back changes no meaning: a
near-miss is replaced in place; a code missing altogether is added at the end of the line, with
the Latin label the source gave it ("SKU YW-8823"). Numbers and prices are never repaired: the
model has to state them itself, and a retry asks it to.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from pipelines.text.guardrails import ProtectedToken, normalize, protected_tokens

# kinds that must reappear character for character and that a repair may put back
REPAIRABLE = frozenset({"sku", "url", "email", "size", "model"})
_SEPARATORS = r"[\s\-_./–—－]*"
# "SKU YW-8823", "Model: LB-10", "Item No. BT-204": a code's label, the same in any language
_LABEL = re.compile(
    r"(?<![A-Za-z])(SKU|MPN|EAN|UPC|P/N|Model|Item No\.?|Art\.? ?No\.?|Style No\.?|Ref\.?)"
    r"[:：#]?\s?$",
    re.IGNORECASE,
)
_END = re.compile(r"[\s.。!！?？]*$")


def repair(
    source: str, output: str, lost: Sequence[ProtectedToken], *, spaced: bool = True
) -> str | None:
    """`output` with every lost token put back, or None if one of them may not be repaired
    (a number, a price). `spaced`: the target writes spaces between words."""
    if not lost or any(token.kind not in REPAIRABLE for token in lost):
        return None
    text = output
    theirs = {token.text for token in protected_tokens(source)}
    added = []
    for token in lost:
        replaced = _replace_near_miss(text, token, theirs)
        if replaced is None:
            added.append(_labelled(normalize(source), token.text))
        else:
            text = replaced
    if added:
        end = _END.search(text)
        tail = end.group(0) if end else ""
        body = text[: len(text) - len(tail)]
        joiner = ", " if spaced else "，"
        text = body + joiner + joiner.join(added) + tail.strip()
    return text


def _replace_near_miss(text: str, token: ProtectedToken, keep: set[str]) -> str | None:
    """`text` with a misspelt `token` written right, or None when it holds none."""
    if token.kind in ("sku", "model", "size"):
        # the same letters and digits, other separators or case: "YW8823", "yw – 8823"
        chars = [re.escape(c) for c in token.text if c.isalnum()]
        pattern = re.compile(
            r"(?<![A-Za-z0-9])" + _SEPARATORS.join(chars) + r"(?![A-Za-z0-9])", re.IGNORECASE
        )
        match = pattern.search(text)
        if match is not None:
            return text[: match.start()] + token.text + text[match.end() :]
    if token.kind == "size":
        return None
    # a code of the same shape with a character or two changed ("YW-8832", a URL's path)
    for candidate in protected_tokens(text):
        if candidate.kind != token.kind or candidate.text in keep:
            continue
        if difflib.SequenceMatcher(None, candidate.text, token.text).ratio() >= 0.75:
            return text.replace(candidate.text, token.text, 1)
    return None


def _labelled(source: str, code: str) -> str:
    """The code with the Latin label written before it in the source, if any."""
    at = source.find(code)
    label = _LABEL.search(source[:at]) if at > 0 else None
    return f"{label.group(1).strip()} {code}" if label else code
