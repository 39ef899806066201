"""Grounding: the facts of a written line (a script line, a piece of copy, a translation) that
no input gives: the keywords, the product facts, the source line or the glossary.

A fact is a number with its unit or currency (compared as a value, pipelines.text.quantities:
"500毫升" grounds "500 ml"), a code (SKU, URL, model name), or a spec claim: a material, a
certification, a feature ("transparent", "shelf life", "flavour", "made in China"). Claims are
found by a small curated lexicon of concepts, each with its Chinese and English spellings, so
that "不锈钢" in the keywords grounds "stainless steel" in an English line. It works offline and
deterministically; a claim it has no concept for passes unseen (the lexicon only ever flags).

A concept is claimed by its `claim` spellings and grounded by those or its `evidence` spellings:
a line saying "insulated" needs the input to say insulated, vacuum, 保温... or just "cold" and
"hot" ("keeps drinks cold 24 h"), while a line saying "hot" claims nothing ("hot sale").
Acronyms (BPA, FDA, CE) are the same in every language; the word concepts are judged only where
the line and the inputs are in Chinese or English (or carry no words, e.g. "500 ml").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipelines.languages import detect_language
from pipelines.text.guardrails import invented_numbers, missing_tokens, normalize

FactKind = Literal["number", "price", "code", "claim"]
# the languages the concepts are spelt in (a Traditional Chinese line is judged as Chinese)
LEXICON_LANGUAGES = frozenset({"zh", "zh-Hant", "en"})


@dataclass(frozen=True)
class Concept:
    """A spec claim and its spellings: Latin ones are matched as whole words in any case."""

    name: str
    claim: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    acronym: bool = False  # written alike in every language, matched case-sensitively


def _concept(name: str, claim: str, evidence: str = "", *, acronym: bool = False) -> Concept:
    return Concept(name, _alternatives(claim), _alternatives(evidence), acronym)


def _alternatives(pattern: str) -> tuple[str, ...]:
    """The top-level alternatives of a regex ("a(?:b|c)|d" -> "a(?:b|c)", "d")."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(pattern):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return tuple(part for part in parts if part)


_COLOUR_NAMES = (
    r"black|white|red|blue|green|pink|gr[ae]y|purple|yellow|orange|beige|navy|"
    r"黑色|白色|红色|蓝色|绿色|粉色|粉红|灰色|紫色|黄色|橙色|米色|藏青"
)
CONCEPTS: tuple[Concept, ...] = (
    # materials
    _concept("stainless steel", r"stainless(?: steel)?|steel|不锈钢|钢(?!化)"),
    _concept("plastic", r"plastics?|塑料|塑胶"),
    _concept("glass", r"glass|玻璃"),
    _concept("silicone", r"silicone|硅胶"),
    _concept("bamboo", r"bamboo|竹"),
    _concept("wood", r"wood(?:en)?|木质|木制|实木|木头|原木"),
    _concept("ceramic", r"ceramics?|porcelain|陶瓷|瓷"),
    _concept("aluminium", r"alumin(?:i)?um|铝"),
    _concept("copper", r"copper|铜"),
    _concept("titanium", r"titanium|钛"),
    _concept("leather", r"leather|皮革|真皮|皮质"),
    _concept("cotton", r"cotton|棉"),
    _concept("synthetic fibre", r"polyester|nylon|涤纶|聚酯|尼龙"),
    _concept("Tritan", r"Tritan"),
    _concept("ABS", r"ABS", acronym=True),
    _concept("PP", r"PP", acronym=True),
    _concept("PET", r"PET", acronym=True),
    # certifications and safety
    _concept("BPA", r"BPA", acronym=True),
    _concept("FDA", r"FDA", acronym=True),
    _concept("CE", r"CE", acronym=True),
    _concept("LFGB", r"LFGB", acronym=True),
    _concept("RoHS", r"RoHS|ROHS", acronym=True),
    _concept("FCC", r"FCC", acronym=True),
    _concept("UL", r"UL", acronym=True),
    _concept("SGS", r"SGS", acronym=True),
    _concept("ISO", r"ISO", acronym=True),
    _concept("food grade", r"food[- ]grade|food[- ]safe|食品级"),
    _concept("non-toxic", r"non[- ]?toxic|toxin[- ]free|无毒|低毒"),
    _concept("organic", r"organic|有机"),
    _concept(
        "eco-friendly",
        r"eco[- ]?friendly|recyclable|biodegradable|sustainabl[ey]|环保|可回收|可降解",
    ),
    _concept(
        "health claim",
        r"health(?:y|ier)?|medical|hypoallergenic|anti[- ]?bacterial|健康|医用|医疗|抗菌|低敏|过敏",
    ),
    # features
    _concept("shelf life", r"shelf[- ]life|expir(?:y|ation|es)|保质期|保鲜期"),
    _concept("warranty", r"warrant(?:y|ies)|guarantee[ds]?|保修|质保|保障"),
    _concept(
        "transparent",
        r"transparent|see[- ]through|clear (?:\w+ )?(?:lid|case|cover|body|window|bottle|cup)|透明",
        r"clear",
    ),
    _concept("leak-proof", r"leak[- ]?proof|spill[- ]?proof|leak[- ]free|防漏|防溢|不漏"),
    _concept("waterproof", r"water[- ]?proof|water[- ]resistant|IPX\d|防水"),
    _concept("dishwasher safe", r"dishwasher|洗碗机"),
    _concept("microwave safe", r"microwave|微波炉"),
    _concept(
        "insulated",
        r"insulat(?:ed|ion|ing)|vacuum|thermal|thermos|double[- ]wall(?:ed)?|保温|保冷|隔热|真空|双层",
        r"cold|hot|warm|ice|icy|chill|冷|热|冰|温",
    ),
    _concept(
        "temperature display",
        r"temperature (?:display|indicator|sensor|reading)|(?:watch|see|check|monitor) the "
        r"(?:\w+ )?temperature|温度显示|显示温度|测温|温显|看温度",
    ),
    _concept("flavour", r"flavou?rs?|口味|风味"),
    _concept(
        "colours",
        r"colou?rs|colou?r options|颜色|多色|配色|色彩",
        rf"colou?r|{_COLOUR_NAMES}|色",
    ),
    _concept("colour name", _COLOUR_NAMES, r"colou?rs?|颜色"),
    _concept(
        "sizes",
        r"sizes|sizing|size options?|(?:extra[- ]large|large|medium|small|standard|mini) size|"
        r"多种尺寸|多个尺寸|多尺寸|尺码|尺寸可选|大号|小号|中号",
        r"size|尺寸|码|XL",
    ),
    _concept("rust-proof", r"rust(?:-proof|proof|ing|s)?|防锈|不生锈|不锈(?!钢)"),
    _concept("no condensation", r"condensation|sweat[- ]?proof|防冷凝|冷凝|不出汗"),
    _concept("opacity", r"opaque|frosted|matte|不透明|磨砂"),
    _concept(
        "origin",
        r"made in (?:the )?(?:China|USA|US|UK|EU|Japan|Germany|Italy|Korea|Vietnam|Taiwan|India|Europe)|"
        r"(?:Chinese|German|Japanese|Italian)[- ]made|"
        r"中国制造|国产|进口|原产|产地",
        r"China|Germany|Japan|Italy|Korea|USA|中国|德国|日本|意大利|韩国|美国|制造",
    ),
    _concept("handmade", r"hand[- ]?made|hand[- ]?crafted|手工"),
    _concept(
        "rechargeable",
        r"recharge(?:able)?|batter(?:y|ies)|充电|电池",
        r"charg(?:e|es|ed|ing|er)|USB|mAh|毫安",
    ),
    _concept("wireless", r"wireless|bluetooth|无线|蓝牙"),
    _concept("straw", r"straws?|吸管"),
    _concept("handle", r"handles?|把手|提手|手柄"),
    _concept("lid", r"lids?|杯盖|瓶盖|盖子|(?<![覆遮涵])盖(?!章)", r"cap|cover|top"),
    _concept("free shipping", r"free (?:shipping|delivery)|ships? free|包邮|免运费|免邮"),
    _concept(
        "returns",
        r"money[- ]back|refund(?:s|ed|able)?|free returns?|return policy|退款|退货|包退|可退",
        r"退",
    ),
    _concept("customisation", r"customi[sz](?:e|ed|able|ation)|OEM|ODM|定制|定做|订制"),
)


def _pattern(spellings: Sequence[str], acronym: bool) -> re.Pattern[str] | None:
    if not spellings:
        return None
    parts = []
    for spelling in spellings:
        latin = re.search(r"[A-Za-z]", spelling) is not None
        parts.append(rf"(?<![A-Za-z]){spelling}(?![A-Za-z])" if latin else spelling)
    return re.compile("|".join(parts), 0 if acronym else re.IGNORECASE)


_CLAIMS = [(c, _pattern(c.claim, c.acronym)) for c in CONCEPTS]
_GROUNDS = [_pattern(c.claim + c.evidence, c.acronym) for c in CONCEPTS]


@dataclass(frozen=True)
class UngroundedFact:
    """A fact of `line` that no input gives: `fact` as written in the line."""

    line: str
    fact: str
    kind: FactKind
    concept: str | None = None  # the lexicon's name for a claim

    def describe(self) -> str:
        return f"'{self.fact}'" if self.kind != "claim" else f"'{self.fact}' ({self.concept})"


def judges_claims(texts: Sequence[str]) -> bool:
    """Whether the lexicon's word concepts can be judged on these texts: each is in Chinese or
    English, or too short to tell (keywords, "500 ml")."""
    return all(detect_language(text) in (None, *LEXICON_LANGUAGES) for text in texts if text)


def ungrounded_facts(
    line: str, sources: Sequence[str], *, claims: bool | None = None
) -> list[UngroundedFact]:
    """The facts of `line` that none of `sources` gives: numbers and prices that state no
    source fact (in any form: "$3.20" for "3.2美元"), codes written nowhere in them, and lexicon
    claims none of them makes. `claims`: judge the word concepts (default: when `line` and
    `sources` are in Chinese or English, judges_claims); acronyms are judged always."""
    source = "\n".join(normalize(text) for text in sources)
    text = normalize(line)
    found = [
        UngroundedFact(line, token.text, "price" if token.kind == "price" else "number")
        for token in invented_numbers(source, text)
    ]
    found.extend(
        UngroundedFact(line, token.text, "code")
        for token in missing_tokens(text, source)
        if token.quantity is None and token.kind != "size"  # "S/M/L" reads as words too
    )
    words = judges_claims([text, *sources]) if claims is None else claims
    for (concept, claimed), grounds in zip(_CLAIMS, _GROUNDS, strict=True):
        if claimed is None or not (words or concept.acronym):
            continue
        match = claimed.search(text)
        if match is not None and (grounds is None or grounds.search(source) is None):
            found.append(UngroundedFact(line, match.group(0), "claim", concept.name))
    return _without_overlaps(found)


def _without_overlaps(found: list[UngroundedFact]) -> list[UngroundedFact]:
    """One finding per stretch of the line: the code "FDA" is also the acronym FDA."""
    kept: list[UngroundedFact] = []
    for fact in found:
        if not any(fact.fact in other.fact or other.fact in fact.fact for other in kept):
            kept.append(fact)
    return kept


def describe_ungrounded(facts: Sequence[UngroundedFact]) -> str:
    """The problem a retry is told about, e.g. "'24-month' and 'shelf life' (shelf life) are in
    no keyword or fact"."""
    return ", ".join(fact.describe() for fact in facts)
