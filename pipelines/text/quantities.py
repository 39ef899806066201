"""Numbers as facts: a value and what it counts (a currency, a unit), read alike in any language.

"0.85美元", "$0.85", "USD 0.85" and "0.85 dollars" are one fact; so are "500毫升" and "500 ml",
"10万件" and "100,000 pieces", "1,299" and "1299". A translation check compares these facts,
not the strings: a price must keep its amount and its currency, a measure its amount and may not
change its unit (a unit left out, or a piece counter such as 件/pcs, is not a change).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# Currencies: every way of writing one, before or after the amount. "$" is taken as USD (the
# trade default; other dollars are written HK$, A$...); "¥" is yuan or yen.
_CURRENCIES: dict[str, tuple[str, ...]] = {
    "USD": (
        r"US\$",
        r"\$",
        "USD",
        "美元",
        "美金",
        "美刀",
        r"dollars?",
        r"dólar(?:es)?",
        r"dollar[oi]",
        r"dolar",
        r"dolár",
        r"доллар\w*",
        "دولار",
        "ドル",
        "달러",
        "ดอลลาร์",
        "đô la",
    ),
    "CNY": (
        "CNY",
        "RMB",
        "人民币",
        "人民幣",
        "元",
        r"块钱?",
        r"yuan",
        r"юан\w*",
        "يوان",
        "위안",
    ),
    "EUR": ("€", "EUR", "欧元", "歐元", r"euros?", r"евро", "يورو", "ユーロ", "유로", "ยูโร"),
    "GBP": ("£", "GBP", "英镑", "英鎊", r"pounds? sterling", r"фунт\w*", "ポンド", "파운드"),
    "JPY": ("JPY", "円", "日元", "日圓", r"yen", r"иен\w*", "엔"),
    "HKD": (r"HK\$", "HKD", "港币", "港元"),
    "AUD": (r"A\$", "AUD", "澳元"),
    "CAD": (r"C\$", "CAD", "加元"),
    "SGD": (r"S\$", "SGD", "新加坡元"),
    "TWD": (r"NT\$", "TWD", "新台币"),
    "KRW": ("₩", "KRW", "韩元"),
    "INR": ("₹", "INR", r"rupees?"),
    "RUB": ("₽", "RUB", r"руб\w*", "卢布"),
    "BRL": (r"R\$", "BRL", r"reais"),
    "THB": ("฿", "THB", "บาท", "泰铢"),
    "VND": ("₫", "VND", "越南盾"),
    "TRY": ("₺", "TRY", "里拉"),
    "AED": ("AED", "迪拉姆"),
    "MXN": ("MXN",),
    "PHP": ("₱", "PHP"),
    "NGN": ("₦", "NGN"),
    "ILS": ("₪", "ILS"),
}
_YEN_SIGN = "¥"  # NFKC turns the full-width "￥" into it

# Units: every spelling of one, after the amount. A spelling may name two (a "度" is a degree or
# a degree Celsius): a fact matches another when they share one.
_UNITS: dict[str, tuple[str, ...]] = {
    "mm": ("mm", "毫米", r"millimet(?:er|re)s?"),
    "cm": ("cm", "厘米", "公分", r"centimet(?:er|re)s?"),
    "m": ("m", "米", r"met(?:er|re)s?"),
    "km": ("km", "公里", "千米", r"kilomet(?:er|re)s?"),
    "inch": (r"inch(?:es)?", "英寸", "寸", "″"),
    "ft": ("ft", "feet", "foot", "英尺"),
    "mg": ("mg", "毫克", r"milligrams?"),
    "g": ("g", "克", r"grams?", r"grammes?"),
    "kg": ("kg", "KG", "Kg", "公斤", "千克", r"kilo(?:gram)?s?"),
    "jin": ("斤",),
    "lb": ("lb", "lbs", "磅", r"pounds?"),
    "oz": ("oz", "盎司", r"ounces?"),
    "ton": ("吨", r"tons?", r"tonnes?"),
    "ml": ("ml", "mL", "ML", "毫升", r"millilit(?:er|re)s?"),
    "l": ("l", "L", "升", "公升", r"lit(?:er|re)s?"),
    "gal": ("gal", "加仑", r"gallons?"),
    "hour": ("h", "hr", "hrs", "小时", "个小时", "钟头", r"hours?"),
    "minute": ("min", "mins", "分钟", r"minutes?"),
    "second": ("sec", "secs", "秒", "秒钟", r"seconds?"),
    "day": ("天", "日", r"days?"),
    "week": ("周", "星期", "个星期", r"weeks?"),
    "month": ("个月", r"months?"),
    "year": ("年", r"years?", r"yrs?"),
    "mAh": ("mAh", "mah", "MAH", "毫安时", "毫安"),
    "W": ("W", "瓦", r"watts?"),
    "kW": ("kW", "KW", "千瓦"),
    "V": ("V", "伏", r"volts?"),
    "Hz": ("Hz", "赫兹"),
    "GB": ("GB",),
    "TB": ("TB",),
    "MB": ("MB",),
    "%": ("%", "percent", "per cent"),
    "°C": ("°C", "℃", "摄氏度", r"degrees? Celsius"),
    "°F": ("°F", "℉", "华氏度", r"degrees? Fahrenheit"),
}
# spellings that name more than one unit
_SHARED_UNITS: dict[str, tuple[str, ...]] = {
    "度": ("degree", "°C"),
    "°": ("degree", "°C", "°F"),
    r"degrees?": ("degree", "°C", "°F"),
    r"pounds?": ("lb", "GBP"),
}
# A word for what is counted ("500 pcs", "200双"): no unit of measure, so it may come and go
_COUNTERS = (
    "件",
    "个",
    "個",
    "只",
    "支",
    "套",
    "包",
    "箱",
    "盒",
    "双",
    "對",
    "对",
    "条",
    "张",
    "把",
    "台",
    "片",
    "瓶",
    "袋",
    "卷",
    "码",
    "号",
    "次",
    "档",
    "层",
    "色",
    "款",
    r"pcs?",
    r"pieces?",
    r"units?",
    r"sets?",
    r"pairs?",
    r"packs?",
    r"boxe?s?",
    r"cartons?",
    r"bags?",
    r"bottles?",
    r"rolls?",
    r"sheets?",
    r"times",
)
# Chinese powers of ten written after the digits: "10万" is 100000
_MULTIPLIERS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}


def _alternation(spellings: Iterable[str]) -> str:
    """One regex alternative per spelling, longest first ("美元" before "元"); a spelling in
    Latin letters may not run on into a word ("m" is not the start of "months")."""
    parts = []
    for spelling in sorted(set(spellings), key=len, reverse=True):
        latin = spelling[-1].isascii() and (spelling[-1].isalpha() or spelling[-1] in "?)")
        parts.append(spelling + (r"(?![A-Za-z])" if latin else ""))
    return "(?:" + "|".join(parts) + ")"


def _words(spelling: str) -> bool:
    """Whole words ("Dollars", "HOURS") match in any case; symbols and codes ("m", "M") do not."""
    return len(re.sub(r"[^A-Za-z]", "", spelling)) >= 3 and spelling.lower() == spelling


_CURRENCY_SPELLINGS = [s for spellings in _CURRENCIES.values() for s in spellings] + [_YEN_SIGN]
_UNIT_SPELLINGS = [s for spellings in _UNITS.values() for s in spellings] + list(_SHARED_UNITS)
_CURRENCY = _alternation(_CURRENCY_SPELLINGS)
_UNIT = _alternation([*_UNIT_SPELLINGS, *_COUNTERS])
NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_AMOUNT = rf"(?:{NUMBER})(?:\s?[万萬亿億])?"
# "24-32", "7 to 15", "50x40x30": the unit or currency after the last number is every number's
_JOIN = r"(?:\s?[-–—~～x×*]\s?|\s(?:to|-)\s|\s?[至到]\s?)"
QUANTITY = re.compile(
    rf"(?:(?P<before>{_CURRENCY})\s?|(?<![A-Za-z0-9_.]))"
    rf"(?P<amounts>{_AMOUNT}(?:{_JOIN}(?:{_CURRENCY}\s?)?{_AMOUNT})*)"
    # a currency written against the number is its ("3.2美元 500毫升"); one spaced off it and
    # followed by a number is that number's ("500 USD 3.20": USD is 3.20's)
    rf"(?:(?P<glued>{_CURRENCY})(?!\d)|\s?-?\s?(?P<after>{_CURRENCY}(?!\s?\d)|{_UNIT}))?",
    re.IGNORECASE,
)
_ONE_AMOUNT = re.compile(rf"(?P<number>{NUMBER})(?:\s?(?P<power>[万萬亿億]))?")


@dataclass(frozen=True)
class Quantity:
    """One number of a text: its value, and what it counts (empty: a bare number or a count)."""

    value: Decimal
    text: str  # as written, with its currency or unit
    units: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_price(self) -> bool:
        return bool(self.units & CURRENCY_CODES)

    def matches(self, other: Quantity) -> bool:
        """Whether `other` states this fact: the same value, and no currency lost, added or
        changed, and no unit changed."""
        if self.value != other.value:
            return False
        if self.units and other.units:
            return bool(self.units & other.units)
        # one side has no unit: fine for a measure ("500" for "500 ml"), not for a price
        return not self.is_price and not other.is_price


CURRENCY_CODES = frozenset(_CURRENCIES)
_CURRENCY_NAMES = {
    code: re.compile(_alternation(spellings), re.IGNORECASE)
    for code, spellings in _CURRENCIES.items()
}


def names_currency(text: str, codes: Iterable[str]) -> bool:
    """Whether `text` names one of these currencies anywhere ("3.20 (USD)", "دولار 3.20")."""
    return any(code in _CURRENCY_NAMES and _CURRENCY_NAMES[code].search(text) for code in codes)


def _classify(spelling: str | None) -> frozenset[str]:
    """What a currency or unit spelling names ("美元" -> {USD}); empty for a counter or none."""
    if not spelling:
        return frozenset()
    spelling = spelling.strip()
    if spelling == _YEN_SIGN:
        return frozenset({"CNY", "JPY"})
    found: set[str] = set()
    for table in (_CURRENCIES, _UNITS):
        for code, spellings in table.items():
            if any(_spelled(pattern, spelling) for pattern in spellings):
                found.add(code)
    for pattern, codes in _SHARED_UNITS.items():
        if _spelled(pattern, spelling):
            found.update(codes)
    return frozenset(found)


def _spelled(pattern: str, spelling: str) -> bool:
    return re.fullmatch(pattern, spelling, re.IGNORECASE if _words(pattern) else 0) is not None


def parse_number(text: str, power: str | None = None) -> Decimal | None:
    """ "1,299" -> 1299, "3.20" -> 3.2, "10" with "万" -> 100000."""
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return (value * _MULTIPLIERS[power]).normalize() if power else value.normalize()


def quantities(text: str) -> Iterator[tuple[int, int, Quantity]]:
    """(start, end, quantity) of every number in `text` (already normalised), in order."""
    for match in QUANTITY.finditer(text):
        # a counter ("pcs", "件") or a case-folded symbol ("M" is not "m") names nothing
        after = match.group("glued") or match.group("after")
        units = _classify(after) | _classify(match.group("before"))
        amounts = list(_ONE_AMOUNT.finditer(match.group("amounts")))
        offset = match.start("amounts")
        for i, amount in enumerate(amounts):
            value = parse_number(amount.group("number"), amount.group("power"))
            if value is None:
                continue
            start, end = offset + amount.start(), offset + amount.end()
            if i == 0:
                start = match.start()
            if i == len(amounts) - 1:
                end = match.end() if after and units else end
            yield start, end, Quantity(value, text[start:end].strip(), units)


_CHINESE_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CHINESE_POWERS = {"十": 10, "百": 100, "千": 1000, "万": 10_000, "萬": 10_000}
_ENGLISH = {
    word: n
    for n, words in enumerate(
        [
            "zero",
            "one single once first a",
            "two second twice double pair couple both",
            "three third triple",
            "four fourth",
            "five fifth",
            "six sixth",
            "seven seventh",
            "eight eighth",
            "nine ninth",
            "ten tenth",
            "eleven",
            "twelve dozen",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
    for word in words.split()
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
_TENS |= {"seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000}


# up to this, a count written in words in a translation ("三档", "two packs") keeps the number
SPELLED_COUNT = 10


def spelled_values(text: str) -> set[Decimal]:
    """Values written in words ("three", "两", "二十四", "twenty-four", "一打", "half"): a
    translation may well write them in digits."""
    values: set[Decimal] = set()
    for run in re.findall(r"[零〇一二两兩三四五六七八九十百千万萬]+", text):
        values.update(Decimal(_CHINESE_DIGITS[c]) for c in run if c in _CHINESE_DIGITS)
        values.add(Decimal(_chinese_run(run)))
    words = re.findall(r"[a-z]+", text.lower())
    for word, following in zip(words, [*words[1:], ""][: len(words)], strict=True):
        if word in _ENGLISH:
            values.add(Decimal(_ENGLISH[word]))
        elif word in _TENS:
            values.add(Decimal(_TENS[word]))
            if 0 < _ENGLISH.get(following, 0) < 10:  # "twenty-four"
                values.add(Decimal(_TENS[word] + _ENGLISH[following]))
    if "半" in text or "half" in words:
        values.add(Decimal("0.5"))
    if "打" in text:  # a dozen
        values.add(Decimal(12))
    return values


def _chinese_run(run: str) -> int:
    """ "二十四" -> 24, "三百" -> 300, "十" -> 10; digits alone read as digits ("一二" -> 12)."""
    total = section = digit = 0
    for char in run:
        if char in _CHINESE_DIGITS:
            value = _CHINESE_DIGITS[char]
            digit = digit * 10 + value if digit and not section else value
        elif char in ("万", "萬"):
            total += (section + digit) * 10_000
            section = digit = 0
        else:
            section += (digit or 1) * _CHINESE_POWERS[char]
            digit = 0
    return total + section + digit
