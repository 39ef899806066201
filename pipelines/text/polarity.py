"""Whether a line reads as negated: the polarity check of the faithfulness checks.

A line's polarity is the parity of its negating words: "keeps drinks cold" is positive, "不冷"
negative, "no dudes en preguntar" (no + hesitate) positive again, "ask not" negative. Words that
negate by meaning count as well ("hesitate", "avoid", "-proof", "-free", "-less", 防, 犹豫), so
that "waterproof" / "防水" / "impermeable" and "stainless" / "不锈" / "inoxidable" agree.
Compounds whose negation is idiom only (非常 "very", "not only", "sin embargo") are set aside
first. Languages without a lexicon here are not judged (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class _Lexicon:
    idioms: re.Pattern[str]  # set aside before counting: they do not negate
    negators: re.Pattern[str]


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_CHINESE = _Lexicon(
    idioms=_words(
        "非常", "不同", "不错", "不仅", "不但", "不断", "无论", "無論", "不管", "不久", "不少",
        "不过", "不過", "不得不", "无比", "無比", "非凡", "并且",
    ),
    negators=_words(
        "犹豫", "猶豫", "避免", "拒绝", "拒絕", "缺少", "缺乏",
        "不", "没", "沒", "无", "無", "非", "别", "別", "勿", "未", "莫", "否", "防", "抗",
    ),
)  # fmt: skip

_ENGLISH = _Lexicon(
    idioms=_words(
        r"\bnot only\b", r"\bno matter\b", r"\bno doubt\b", r"\bno wonder\b", r"\bunless\b",
        r"\bregardless\b", r"\bnevertheless\b", r"\bnonetheless\b", r"\bfor free\b",
        r"\bfeel free\b",
    ),
    negators=_words(
        r"\bnot\b", r"n['’]t\b", r"\bcannot\b", r"\bno\b", r"\bnever\b", r"\bnone\b",
        r"\bnothing\b", r"\bnobody\b", r"\bnowhere\b", r"\bneither\b", r"\bnor\b",
        r"\bwithout\b", r"\b\w+less\b", r"\b[A-Z][\w]*[- ]free\b", r"\b\w+-free\b",
        r"\banti\w*", r"\b\w+-?proof\b", r"\bnon-?\w+", r"\bprevent\w*", r"\bavoid\w*",
        r"\bhesitat\w*", r"\brefus\w*", r"\black(?:s|ing|ed)?\b", r"\bfail(?:s|ed)?\b",
    ),
)  # fmt: skip

_SPANISH = _Lexicon(
    idioms=_words(r"\bno s[oó]lo\b", r"\bsin embargo\b", r"\bno obstante\b"),
    negators=_words(
        r"\bno\b", r"\bnunca\b", r"\bjam[aá]s\b", r"\bsin\b", r"\bni\b", r"\bnada\b",
        r"\bnadie\b", r"\bning[uú]n\w*", r"\btampoco\b", r"\banti\w+", r"\ba prueba de\b",
        r"\bimpermeable\w*", r"\binoxidable\w*", r"\binal[aá]mbric\w*", r"\blibre de\b",
        r"\bevit\w+", r"\bdud\w+", r"\bvacil\w+", r"\bprev(?:en|ien)\w*", r"\brechaz\w+",
        r"\bfalta\w*",
    ),
)  # fmt: skip

LEXICONS: dict[str, _Lexicon] = {
    "zh": _CHINESE,
    "zh-Hant": _CHINESE,
    "en": _ENGLISH,
    "es": _SPANISH,
}


def negations(text: str, language: str) -> list[str] | None:
    """The negating words of `text` in order, or None when `language` has no lexicon here."""
    lexicon = LEXICONS.get(language)
    if lexicon is None:
        return None
    plain = lexicon.idioms.sub(" ", text)
    return [match.group(0) for match in lexicon.negators.finditer(plain)]


@dataclass(frozen=True)
class PolarityFlip:
    """The source and its translation negate a different number of times."""

    source_negations: list[str]
    translation_negations: list[str]

    @property
    def opposite(self) -> bool:
        """Odd against even: one side negated, the other not. Otherwise the counts differ in
        pairs: a double flip ("防漏，不含BPA" / "leaks and contains BPA") or a double negative
        reworded ("don't hesitate to ask" / "尽管问"), which a reader must tell apart."""
        return len(self.source_negations) % 2 != len(self.translation_negations) % 2


def polarity_flip(
    source: str, source_language: str, translation: str, target_language: str
) -> PolarityFlip | None:
    """How `source` and `translation` differ in negation; None when they negate as often, or
    when either language has no lexicon here."""
    theirs = negations(source, source_language)
    ours = negations(translation, target_language)
    if theirs is None or ours is None or len(theirs) == len(ours):
        return None
    return PolarityFlip(theirs, ours)
