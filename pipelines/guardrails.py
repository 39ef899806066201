"""Merchant guardrails: the numbers, prices, sizes, SKUs and URLs a translation must keep as is."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["url", "email", "price", "sku", "size", "number"]

_CURRENCY_SYMBOL = r"(?:US\$|HK\$|NT\$|S\$|A\$|C\$|R\$|[$€£¥￥₹₽₩₫฿₺₱₦₪])"
_CURRENCY_CODE = r"(?:USD|EUR|GBP|CNY|RMB|JPY|KRW|INR|RUB|BRL|MXN|AUD|CAD|HKD|TWD|SGD|AED|SAR|TRY|THB|VND|IDR|MYR|PHP|PLN|CZK|HUF|SEK|DKK|CHF|ZAR|NGN|KES|EGP|PKR|BDT)"
_NUMBER = r"\d+(?:[.,]\d+)*"
_SIZES = r"(?:XXS|XS|S|M|L|XL|XXL|XXXL|[2-6]XL)"
_UNITS = (
    "mm|cm|dm|m|km|in|inch|inches|ft|yd|mg|g|kg|t|oz|lb|lbs|ml|cl|dl|l|L|gal|W|kW|V|A|mA|mAh|Ah|"
    "Wh|kWh|Hz|kHz|MHz|GHz|KB|MB|GB|TB|px|pcs|pc|pair|pairs|x|°C|°F|℃|℉|%"
)

_PATTERNS: list[tuple[TokenKind, re.Pattern[str]]] = [
    ("url", re.compile(r"(?:https?://|www\.)[^\s<>\"'）)\]】」]+", re.IGNORECASE)),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    (
        "price",
        re.compile(
            rf"{_CURRENCY_SYMBOL}\s?{_NUMBER}|{_NUMBER}\s?{_CURRENCY_SYMBOL}"
            rf"|\b{_CURRENCY_CODE}\s?{_NUMBER}|{_NUMBER}\s?{_CURRENCY_CODE}\b"
        ),
    ),
    # a measurement (number + unit) is not a SKU: the unit may be translated, the number not
    ("number", re.compile(rf"(?<![A-Za-z0-9.,])({_NUMBER})\s?(?:{_UNITS})(?![A-Za-z])")),
    ("size", re.compile(rf"(?<![A-Za-z0-9/]){_SIZES}(?:\s?/\s?{_SIZES})+(?![A-Za-z0-9/])")),
    ("size", re.compile(r"(?<![A-Za-z0-9])(?:XXS|XS|XL|XXL|XXXL|[2-6]XL)(?![A-Za-z0-9])")),
    (
        "sku",
        re.compile(
            r"(?<![\w-])(?=[\w./-]*\d)(?=[\w./-]*[A-Za-z])[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*"
            r"(?![\w-])",
            re.ASCII,
        ),
    ),
    ("number", re.compile(rf"(?<![A-Za-z0-9.,]){_NUMBER}")),
]


@dataclass(frozen=True)
class ProtectedToken:
    kind: TokenKind
    text: str

    def describe(self) -> str:
        return f"{self.kind} '{self.text}'"


def normalize(text: str) -> str:
    """NFKC (full-width digits, ￥) and every decimal digit as ASCII, for comparisons only."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text
    )


def _is_sku(token: str) -> bool:
    # "iPhone15", "AB-1234", "SKU123" yes; "3D" or "A4" too short to be one
    return len(token) >= 3 and (any(c.isupper() for c in token) or any(c in "-_./" for c in token))


def protected_tokens(text: str) -> list[ProtectedToken]:
    """Every token of `text` that must reappear unchanged, in order of appearance."""
    text = normalize(text)
    found: list[tuple[int, ProtectedToken]] = []
    masked = list(text)
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer("".join(masked)):
            token = match.group(0).rstrip(".,;:!?")
            if kind == "sku" and not _is_sku(token):
                continue
            if kind == "number" and match.groups():
                token = match.group(1)
            if kind == "size" and "/" in token:
                for size in re.split(r"\s?/\s?", token):
                    found.append((match.start(), ProtectedToken("size", size)))
            elif kind == "price":
                found.append((match.start(), ProtectedToken(kind, re.sub(r"\s", "", token))))
            else:
                found.append((match.start(), ProtectedToken(kind, token)))
            masked[match.start() : match.start() + len(match.group(0))] = " " * len(match.group(0))
    return [token for _, token in sorted(found, key=lambda item: item[0])]


def missing_tokens(source: str, output: str) -> list[ProtectedToken]:
    """Tokens of `source` that `output` lost or changed (counted: two '2's need two '2's)."""
    wanted = Counter(protected_tokens(source))
    have = Counter(protected_tokens(output))
    plain = normalize(output)
    squeezed = re.sub(r"\s", "", plain)
    missing = []
    for token, count in wanted.items():
        present = have[token]
        if token.kind in ("url", "email"):
            present = max(present, plain.count(token.text))
        elif token.kind in ("sku", "size"):  # standalone, however the output tokenises around it
            bounded = rf"(?<![A-Za-z0-9]){re.escape(token.text)}(?![A-Za-z0-9])"
            present = max(present, len(re.findall(bounded, plain)))
        elif token.kind == "price":
            present = max(present, squeezed.count(token.text))
        if present < count:
            missing.append(token)
    return missing


def describe_missing(tokens: Sequence[ProtectedToken]) -> str:
    return "lost or changed " + ", ".join(t.describe() for t in tokens)
