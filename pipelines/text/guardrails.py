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

# not the tail of a word or of a longer number ("1,299"); a comma that only separates ("500ml，"
# becomes "," under NFKC) does not count
_NOT_INSIDE = r"(?<![A-Za-z0-9])(?<!\d[.,])"

# A price may name its currency in the target language: "USD 3.20" -> "3.20美元", "3,20"-free.
# Only ISO codes are widened this way; a symbol ("¥" is yen or yuan) must stay as it is.
_CURRENCY_NAMES: dict[str, tuple[str, ...]] = {
    "USD": (
        "$",
        "美元",
        "美金",
        "dollar",
        "dólar",
        "dollaro",
        "доллар",
        "دولار",
        "ドル",
        "달러",
        "ดอลลาร์",
        "đô la",
        "dolar",
        "dolár",
    ),
    "EUR": ("€", "欧元", "歐元", "euro", "евро", "يورو", "ユーロ", "유로", "ยูโร"),
    "CNY": ("¥", "元", "人民币", "人民幣", "yuan", "юан", "يوان", "위안"),
    "RMB": ("¥", "元", "人民币", "人民幣", "yuan", "юан", "يوان", "위안"),
    "GBP": (
        "£",
        "英镑",
        "英鎊",
        "pound",
        "pfund",
        "libra",
        "sterlin",
        "фунт",
        "جنيه",
        "ポンド",
        "파운드",
    ),
    "JPY": ("¥", "円", "日元", "日圓", "yen", "иен", "ين", "엔"),
}

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
    ("number", re.compile(rf"{_NOT_INSIDE}({_NUMBER})\s?(?:{_UNITS})(?![A-Za-z])")),
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
    ("number", re.compile(rf"{_NOT_INSIDE}{_NUMBER}")),
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
            present = max(present, squeezed.count(token.text), _named_price(token.text, plain))
        if present < count:
            missing.append(token)
    return missing


def _named_price(price: str, output: str) -> int:
    """How often `output` writes the amount of an ISO-coded `price` with its currency named in
    another way ("USD3.20" as "3.20美元" or "$3.20"); 0 if it never does."""
    match = re.fullmatch(rf"({_CURRENCY_CODE})?({_NUMBER})({_CURRENCY_CODE})?", price)
    if match is None or not (match.group(1) or match.group(3)):
        return 0
    names = _CURRENCY_NAMES.get(match.group(1) or match.group(3), ())
    lowered = output.lower()
    if not any(name in lowered for name in names):
        return 0
    return len(re.findall(rf"{_NOT_INSIDE}{re.escape(match.group(2))}(?![\d])", output))


def describe_missing(tokens: Sequence[ProtectedToken]) -> str:
    return "lost or changed " + ", ".join(t.describe() for t in tokens)
