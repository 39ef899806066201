"""Merchant guardrails: the numbers, prices, sizes, SKUs, URLs and product names a translation
must keep, compared as facts (pipelines.text.quantities) so that "0.85美元" and "$0.85" agree."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipelines.text.quantities import (
    QUANTITY,
    SPELLED_COUNT,
    Quantity,
    names_currency,
    quantities,
    spelled_values,
)

TokenKind = Literal["url", "email", "model", "price", "sku", "size", "number"]

_SIZES = r"(?:XXS|XS|S|M|L|XL|XXL|XXXL|[2-6]XL)"
# A product line's name and its number are one fact: "iPhone 15" must not become "15英寸".
# A name is a word with a capital inside (iPhone, AirPods, MacBook) or a known line.
_MODEL_LINES = (
    "Galaxy|Pixel|Redmi|Mate|Nova|Honor|Xperia|Kindle|Switch|Xbox|PlayStation|Watch|Series|"
    "Surface|Reno|Find|Moto|Note|Tab|Mi|Pura|Magic"
)
_MODEL = re.compile(
    rf"(?<![A-Za-z0-9])(?:(?=[A-Za-z]{{4}})[A-Za-z]*[a-z][A-Z][A-Za-z]*|{_MODEL_LINES})"
    r"\s?[A-Z]?\d+[A-Za-z]?"
    r"(?:\s(?:Pro|Max|Plus|Ultra|Mini|mini|Lite|SE|Air|FE|e))*(?![A-Za-z0-9])"
)
_SKU = re.compile(
    r"(?<![\w-])(?=[\w./-]*\d)(?=[\w./-]*[A-Za-z])[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*(?![\w-])",
    re.ASCII,
)

_PATTERNS: list[tuple[TokenKind, re.Pattern[str]]] = [
    ("url", re.compile(r"(?:https?://|www\.)[^\s<>\"'）)\]】」]+", re.IGNORECASE)),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("model", _MODEL),
    ("size", re.compile(rf"(?<![A-Za-z0-9/]){_SIZES}(?:\s?/\s?{_SIZES})+(?![A-Za-z0-9/])")),
    ("size", re.compile(r"(?<![A-Za-z0-9])(?:XXS|XS|XL|XXL|XXXL|[2-6]XL)(?![A-Za-z0-9])")),
    ("sku", _SKU),
]


@dataclass(frozen=True)
class ProtectedToken:
    kind: TokenKind
    text: str
    quantity: Quantity | None = None  # what a price or number states, to compare as a fact

    def describe(self) -> str:
        return f"{self.kind} '{self.text}'"


def normalize(text: str) -> str:
    """NFKC (full-width digits, ￥) and every decimal digit as ASCII, for comparisons only."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text
    )


def _is_sku(token: str) -> bool:
    """ "AB-1234", "SKU123", "X-100W" yes; "3D" or "A4" too short, and "12-month", "5-star",
    "3-Pack", "10pcs/box" are numbers and words, not a code."""
    if len(token) < 3 or QUANTITY.fullmatch(token):
        return False
    runs = re.findall(r"[A-Za-z0-9]+", token)  # "10pcs/box" is a count, "LB-10" a code
    return any(
        not re.fullmatch(r"\d+|[a-z]+|[A-Z][a-z]{2,}", run) and not QUANTITY.fullmatch(run)
        for run in runs
    )


def protected_tokens(text: str) -> list[ProtectedToken]:
    """Every token of `text` that must reappear, in order of appearance: codes, URLs and names
    as written; prices and numbers as the facts they state."""
    return _scan(text)[0]


def without_tokens(text: str) -> str:
    """`text` (normalised) with every protected token blanked out: the words around them."""
    return _scan(text)[1]


# a trade label glued to what it labels ("MOQ500件", "SKUYW-8823", "No.8823"), as a small model
# writes it in Chinese: the label and the value are read apart
_GLUED_LABEL = re.compile(r"(?<![A-Za-z])(SKU|MOQ|QTY|Qty|EAN|UPC|No\.|NO\.)(?=[A-Z0-9])")


def _readable(text: str) -> str:
    return _GLUED_LABEL.sub(r"\1 ", normalize(text))


def _scan(text: str) -> tuple[list[ProtectedToken], str]:
    text = _readable(text)
    found: list[tuple[int, ProtectedToken]] = []
    masked = list(text)

    def mask(start: int, end: int) -> None:
        masked[start:end] = " " * (end - start)

    for kind, pattern in _PATTERNS:
        for match in pattern.finditer("".join(masked)):
            token = match.group(0).rstrip(".,;:!?")
            if kind == "sku" and not _is_sku(token):
                continue
            if kind == "size" and "/" in token:
                for size in re.split(r"\s?/\s?", token):
                    found.append((match.start(), ProtectedToken("size", size)))
            else:
                found.append((match.start(), ProtectedToken(kind, token)))
            mask(match.start(), match.start() + len(token))
    for start, end, quantity in quantities("".join(masked)):
        if quantity.is_price:  # "USD 3.20" and "USD3.20" alike
            found.append(
                (start, ProtectedToken("price", re.sub(r"\s", "", quantity.text), quantity))
            )
        else:
            found.append((start, ProtectedToken("number", quantity.text, quantity)))
        mask(start, end)
    tokens = [token for _, token in sorted(found, key=lambda item: item[0])]
    return tokens, "".join(masked)


def missing_tokens(source: str, output: str) -> list[ProtectedToken]:
    """Tokens of `source` that `output` lost or changed (counted: two '2's need two '2's).
    Prices and numbers count as kept when `output` states the same fact in any form."""
    wanted = protected_tokens(source)
    have = protected_tokens(output)
    plain = _readable(output)
    lost = _lost_quantities(wanted, have, plain)
    squeezed = re.sub(r"\s", "", plain).casefold()
    counts = Counter(t for t in have if t.quantity is None)
    for token, count in Counter(t for t in wanted if t.quantity is None).items():
        present = counts[token]
        if token.kind in ("url", "email"):
            present = max(present, plain.count(token.text))
        elif token.kind in ("sku", "size"):  # standalone, however the output tokenises around it
            bounded = rf"(?<![A-Za-z0-9]){re.escape(token.text)}(?![A-Za-z0-9])"
            present = max(present, len(re.findall(bounded, plain)))
        elif token.kind == "model":  # "iPhone15" or "IPHONE 15" is the same phone
            present = max(present, squeezed.count(re.sub(r"\s", "", token.text).casefold()))
        if present < count:
            lost.append(token)
    return sorted(lost, key=wanted.index)


def invented_numbers(source: str, output: str) -> list[ProtectedToken]:
    """Prices and numbers of `output` that state no fact of `source` (a value it never has, a
    unit or currency it never gives that value): "15英寸" for "iPhone 15", "约23元" added to a
    dollar price. Values the source spells in words ("three", "两") may appear as digits."""
    stated = [t.quantity for t in protected_tokens(source) if t.quantity is not None]
    spelled = spelled_values(normalize(source))
    return [
        token
        for token in protected_tokens(output)
        if token.quantity is not None
        and not any(fact.matches(token.quantity) for fact in stated)
        and not (token.quantity.value in spelled and not token.quantity.is_price)
    ]


def _lost_quantities(
    wanted: Sequence[ProtectedToken], have: Sequence[ProtectedToken], output: str
) -> list[ProtectedToken]:
    """The price and number tokens of `wanted` that no quantity of `have` states, each output
    quantity used once; prices first, then measures, then bare numbers (the least demanding
    take what is left)."""
    pool = [t.quantity for t in have if t.quantity is not None]
    spelled = spelled_values(output)
    lost = []
    facts = [(t, t.quantity) for t in wanted if t.quantity is not None]
    for token, fact in sorted(facts, key=lambda pair: (not pair[1].is_price, not pair[1].units)):
        candidates = [q for q in pool if fact.matches(q)]
        if not candidates and fact.is_price and names_currency(output, fact.units):
            # "دولار 3.20", "3.20 (USD)": the amount bare, its currency named elsewhere
            candidates = [q for q in pool if q.value == fact.value and not q.units]
        if candidates:
            pool.remove(min(candidates, key=lambda q: q.units != fact.units))
        elif not (fact.units or fact.value > SPELLED_COUNT or fact.value not in spelled):
            # "三档" for "3 levels": a small count in words is as plain as in digits
            spelled.discard(fact.value)
        else:
            lost.append(token)
    return lost


def describe_missing(tokens: Sequence[ProtectedToken]) -> str:
    return "lost or changed " + ", ".join(t.describe() for t in tokens)
