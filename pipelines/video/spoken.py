"""Numbers, prices, MOQs and SKUs as a listener hears them: one written form for a script and for
its transcription, so that "three dollars twenty" (the script) and "$3.20" (Whisper) compare equal,
and the facts a merchant gave can be looked for in what the buyer hears."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

import cn2an
from text_to_num import alpha2digit

from pipelines.text.guardrails import normalize, protected_tokens

# The languages whose number words text2num turns into digits, as Whisper writes them. Elsewhere
# the digits are compared as written (a script that spells a number out reads as a word error).
TEXT2NUM_LANGUAGES = frozenset({"en", "fr", "es", "pt", "de", "nl", "da", "it"})

# Chinese numerals go through cn2an. A run of two or more (三点二, 一百, 二十四) is a number; a
# lone one only before a currency (三美元): alone it is more often part of a word (一起, 十分).
_HAN_NUMERALS = "零〇一二两三四五六七八九十百千万亿点"
_HAN_CURRENCY = "美元|美金|欧元|歐元|英镑|日元|元"
_HAN_RUN = re.compile(rf"[{_HAN_NUMERALS}]{{2,}}|[{_HAN_NUMERALS}](?={_HAN_CURRENCY})")

# A price's currency as it is written or said, to one ISO code. Symbols and codes may stand
# before the amount, any name after it ("3.2美元", "3 dollars 20"). Left out on purpose: "pound"
# (a weight as often) and 块 (a measure word as often).
_CURRENCIES: dict[str, tuple[str, ...]] = {
    "usd": ("us$", "$", "usd", "dollars", "dollar", "bucks", "美元", "美金", "dólares", "dólar",
            "dollari", "dollaro"),
    "eur": ("€", "eur", "euros", "euro", "欧元", "歐元"),
    "gbp": ("£", "gbp", "英镑", "英鎊"),
    "cny": ("¥", "￥", "cny", "rmb", "yuan", "人民币", "元"),
    "jpy": ("jpy", "yen", "日元", "円"),
}  # fmt: skip
_CODE_OF = {name: code for code, names in _CURRENCIES.items() for name in names}
_BEFORE = ("us$", "$", "€", "£", "¥", "￥", "usd", "eur", "gbp", "cny", "rmb", "jpy")
_NUMBER = r"\d+(?:[.,]\d+)*"
_PRICE = re.compile(
    rf"(?<![\w$€£¥￥])(?P<before>{'|'.join(re.escape(n) for n in _BEFORE)})\s?(?P<a>{_NUMBER})"
    rf"|(?P<b>{_NUMBER})\s?(?P<after>{'|'.join(map(re.escape, sorted(_CODE_OF, key=len)[::-1]))})"
    # "3 dollars 20", "3 euros con 20": the cents said after the currency word
    r"(?![a-z])(?:\s(?:and\s|con\s|e\s|und\s|et\s)?(?P<cents>\d\d)(?!\d)"
    r"(?:\s?(?:cents?|céntimos?|centavos?|centimes?|美分))?)?"
)
_CANONICAL_PRICE = re.compile(r"(\d+(?:\.\d+)?) (usd|eur|gbp|cny|jpy)\b")

# The minimum order quantity, before or after its keyword ("MOQ 100", "100件起订")
_MOQ = re.compile(
    r"(?:\bmoq|minimum order(?: quantity)?|min order|order minimum|pedido mínimo|"
    r"commande minimum|quantité minimale|mindestbestellmenge|起订量?|起批量?)"
    r"\s?(?:is\s|of\s|de\s|von\s)?(\d+(?:\.\d+)?)"
    r"|(\d+(?:\.\d+)?)\s?\S{0,2}?\s?(?:起订|起批)"
)
_CANONICAL_NUMBER = re.compile(r"\d+(?:\.\d+)?")

FactKind = Literal["price", "moq", "sku", "number"]
# Facts a merchant gives that must be said and heard: a line carrying one is never cut or dropped
REQUIRED_KINDS: frozenset[FactKind] = frozenset({"price", "moq", "sku"})


@dataclass(frozen=True)
class Fact:
    """A fact of a line in its spoken form: "3.2 usd" (price), "100" (moq), "yw8823" (sku)."""

    kind: FactKind
    value: str

    def describe(self) -> str:
        label = {"price": "price", "moq": "MOQ", "sku": "SKU", "number": "number"}[self.kind]
        return f"{label} {self.value.upper() if self.kind != 'number' else self.value}"

    def amount(self) -> str:
        """What must be heard of it: the number (a currency misheard is not a wrong price)."""
        return self.value.split()[0]

    def heard_in(self, spoken: str) -> bool:
        """Whether `spoken` (a text in spoken_form) says this fact."""
        if self.kind == "sku":
            return self.value in spoken.replace(" ", "")
        return self.amount() in _CANONICAL_NUMBER.findall(spoken)


def _number(text: str) -> str:
    """One form of a written number: no thousands separators, a decimal point, no trailing 0."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):  # 1,000
        text = text.replace(",", "")
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}", text):  # 1.000.000
        text = text.replace(".", "")
    else:  # 3,20: a decimal comma
        text = text.replace(",", ".")
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:  # 1.2.3: a version or a date, not one number
        return text


def _price(match: re.Match[str]) -> str:
    code = _CODE_OF[match.group("before") or match.group("after")]
    value = _number(match.group("a") or match.group("b"))
    if match.group("cents") and "." not in value:
        value = _number(f"{value}.{match.group('cents')}")
    return f" {value} {code} "


def _han_numerals(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        core = run.strip("点")  # 一点 is "a little", not 1.
        if len(core) < 2 and not re.match(_HAN_CURRENCY, text[match.end() :]):
            return run
        try:
            digits = str(cn2an.cn2an(core, "smart"))
        except ValueError:
            return run
        return run.replace(core, digits, 1)

    return _HAN_RUN.sub(convert, text)


def spoken_form(text: str, language: str) -> str:
    """`text` in the form both sides are compared in: lower case, no punctuation, numbers in
    digits (number words of `language` converted), prices as "<amount> <iso code>"."""
    text = normalize(text)
    base = language.split("-")[0]
    if base in TEXT2NUM_LANGUAGES:
        text = alpha2digit(text, base, threshold=0)  # "one bottle" too: Whisper may write 1
    elif base == "zh":
        text = _han_numerals(text)
    text = _PRICE.sub(_price, text.lower())
    text = re.sub(_NUMBER, lambda m: _number(m.group(0)), text)
    text = re.sub(r"(?<=\d)\.(?=\d)", "\0", text)  # a decimal point is not punctuation
    kept = (" " if unicodedata.category(c).startswith(("P", "S")) else c for c in text)
    return " ".join("".join(kept).replace("\0", ".").split())


def facts_in(text: str, language: str) -> list[Fact]:
    """The prices, MOQs, SKUs and numbers `text` states, in spoken form, without repeats.

    A number counts as a fact from 10 up or with decimals: a small count ("two cups") is as often
    said in words as in digits, and a misheard one is no merchant's fact.
    """
    spoken = spoken_form(text, language)
    facts: list[Fact] = []
    skus = [
        re.sub(r"[^0-9a-z]", "", token.text.lower())
        for token in protected_tokens(text)
        if token.kind == "sku"
    ]
    facts += [Fact("sku", sku) for sku in skus]
    for amount, code in _CANONICAL_PRICE.findall(spoken):
        facts.append(Fact("price", f"{amount} {code}"))
    rest = _CANONICAL_PRICE.sub(" ", spoken)
    for before, after in _MOQ.findall(rest):
        facts.append(Fact("moq", before or after))
    rest = _MOQ.sub(" ", rest)
    for number in _CANONICAL_NUMBER.findall(rest):
        inside_sku = any(number in sku for sku in skus)
        if not inside_sku and ("." in number or Decimal(number) >= 10):
            facts.append(Fact("number", number))
    return list(dict.fromkeys(facts))


def required_facts(text: str, language: str) -> list[Fact]:
    """The price, MOQ and SKU facts of `text`: what a dub must say and the buyer must hear."""
    return [fact for fact in facts_in(text, language) if fact.kind in REQUIRED_KINDS]
