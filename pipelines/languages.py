"""The supported languages (configs/languages.yaml), script-based checks and source detection."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from pydantic import AfterValidator, BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from pipelines.errors import InvalidInput

LANGUAGES_FILE = Path(__file__).resolve().parent.parent / "configs" / "languages.yaml"


class Language(BaseModel):
    code: str
    name: str
    native: str
    script: str
    direction: Literal["ltr", "rtl"] = "ltr"
    espeak: str | None = None
    whisper: bool = False
    whisper_code: str | None = None
    aliases: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class LanguageCatalogue:
    languages: tuple[Language, ...]

    @functools.cached_property
    def _by_tag(self) -> dict[str, Language]:
        table: dict[str, Language] = {}
        for language in self.languages:
            for tag in (language.code, *language.aliases):
                table[tag.lower()] = language
        return table

    def codes(self) -> list[str]:
        return [language.code for language in self.languages]

    def find(self, tag: str) -> Language | None:
        """The language of a BCP-47 tag: exact or alias, else its primary subtag ("de-AT")."""
        tag = tag.strip().replace("_", "-").lower()
        return self._by_tag.get(tag) or self._by_tag.get(tag.split("-")[0])

    def get(self, tag: str, param: str = "language") -> Language:
        language = self.find(tag)
        if language is None:
            raise InvalidInput(
                unsupported_message(tag, self), param=param, code="unsupported_language"
            )
        return language


def unsupported_message(tag: str, catalogue: LanguageCatalogue) -> str:
    return f"Unsupported language '{tag}'. Supported: {', '.join(catalogue.codes())}"


@functools.cache
def load_languages(path: Path = LANGUAGES_FILE) -> LanguageCatalogue:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return LanguageCatalogue(tuple(Language.model_validate(item) for item in data["languages"]))


def _canonical(tag: str) -> str:
    catalogue = load_languages()
    language = catalogue.find(tag)
    if language is None:
        raise ValueError(unsupported_message(tag, catalogue))
    return language.code


def language_codes() -> list[str]:
    """The catalogue's codes: what a language field's JSON schema lists."""
    return load_languages().codes()


class _LanguageCodesSchema:
    """The JSON schema of a LanguageCode: an enum of the catalogue's codes. The server also takes
    aliases (zh-CN), any case, `_` for `-` and regions (de-AT), which an enum cannot say."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["enum"] = language_codes()
        return schema


LanguageCode = Annotated[str, AfterValidator(_canonical), _LanguageCodesSchema()]
"""A request field holding a supported language; normalised to its catalogue code."""


# --- scripts --------------------------------------------------------------------------------
# Scripts whose characters are written without spaces: each character counts as one unit.
CHARACTER_SCRIPTS = {"Han", "Hiragana", "Katakana", "Thai", "Myanmar", "Khmer", "Ethiopic"}
_UNICODE_SCRIPT = {  # prefix of unicodedata.name() -> script
    "CJK": "Han",
    "HIRAGANA": "Hiragana",
    "KATAKANA": "Katakana",
    "HANGUL": "Hangul",
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "ARABIC": "Arabic",
    "HEBREW": "Hebrew",
    "THAI": "Thai",
    "DEVANAGARI": "Devanagari",
    "BENGALI": "Bengali",
    "ETHIOPIC": "Ethiopic",
    "MYANMAR": "Myanmar",
    "KHMER": "Khmer",
    "TAMIL": "Tamil",
}
# ISO 15924 code of a language -> the Unicode scripts its text is written in
ISO_SCRIPTS = {
    "Latn": {"Latin"},
    "Hans": {"Han"},
    "Hant": {"Han"},
    "Jpan": {"Han", "Hiragana", "Katakana"},
    "Kore": {"Hangul", "Han"},
    "Cyrl": {"Cyrillic"},
    "Grek": {"Greek"},
    "Arab": {"Arabic"},
    "Hebr": {"Hebrew"},
    "Thai": {"Thai"},
    "Deva": {"Devanagari"},
    "Beng": {"Bengali"},
    "Ethi": {"Ethiopic"},
    "Mymr": {"Myanmar"},
    "Khmr": {"Khmer"},
    "Taml": {"Tamil"},
}


@functools.cache
def char_script(char: str) -> str | None:
    if not char.isalpha() and unicodedata.category(char) not in ("Mn", "Mc", "Lo"):
        return None
    name = unicodedata.name(char, "")
    for prefix, script in _UNICODE_SCRIPT.items():
        if name.startswith(prefix):
            return script
    return None


_WORD = re.compile(r"\w+", re.UNICODE)


def script_units(text: str) -> Counter[str]:
    """Letters counted per script; a word of a spaced script counts once, as a character does."""
    units: Counter[str] = Counter()
    for word in _WORD.findall(text):
        spaced: set[str] = set()
        for char in word:
            script = char_script(char)
            if script is None:
                continue
            if script in CHARACTER_SCRIPTS:
                units[script] += 1
            else:
                spaced.add(script)
        units.update(spaced)
    return units


def script_share(text: str, language: Language) -> tuple[float, int]:
    """(share of the text's letter units in the language's script, number of units)."""
    units = script_units(text)
    total = sum(units.values())
    wanted = ISO_SCRIPTS.get(language.script, set())
    return (sum(units[s] for s in wanted) / total if total else 0.0), total


# --- detection ------------------------------------------------------------------------------
# A script written by one supported language names it outright; py3langid (a naive Bayes model
# over byte n-grams) chooses only among the languages that share the text's script.
_SCRIPT_LANGUAGE = {
    "Hangul": "ko",
    "Greek": "el",
    "Hebrew": "he",
    "Thai": "th",
    "Devanagari": "hi",
    "Bengali": "bn",
    "Ethiopic": "am",
    "Myanmar": "my",
    "Khmer": "km",
    "Tamil": "ta",
}
# (simplified, traditional) forms of characters frequent in trade text that differ
_HAN_FORMS = (
    "们这个为与说买卖价货还会时东门车长发页钢质电脑机线颜码条双软热铝锅盖壶灯书视频",
    "們這個為與說買賣價貨還會時東門車長發頁鋼質電腦機線顏碼條雙軟熱鋁鍋蓋壺燈書視頻",
)
_LANGID_LABELS = {"fil": "tl"}  # our code -> py3langid's label, where they differ
MIN_CONFIDENCE = 0.5
"""Below this share of the probability among same-script languages a guess is no guess: "500ml"
or a bare brand name is not a language, and a caller does better without a source language than
with a wrong one."""


@functools.cache
def _identifier() -> LanguageIdentifier:
    """py3langid's model (2 s to load, once), restricted to the catalogue's languages."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    labels = set(identifier.labels)
    identifier.set_languages(
        [
            label
            for code in load_languages().codes()
            if (label := _LANGID_LABELS.get(code, code)) in labels
        ]
    )
    return identifier


@functools.cache
def _candidates(script: str) -> dict[str, str]:
    """py3langid label -> catalogue code, for the languages written in `script`."""
    return {
        _LANGID_LABELS.get(lang.code, lang.code): lang.code
        for lang in load_languages().languages
        if script in ISO_SCRIPTS.get(lang.script, set())
    }


def detect_language(text: str) -> str | None:
    """The catalogue code of the language `text` is written in; None when unsure (no letters,
    or no language of its script at least MIN_CONFIDENCE likely)."""
    units = script_units(text)
    total = sum(units.values())
    if not total:
        return None
    # a line in another script often carries Latin brand names, units and codes ("LED 무드등"):
    # that script decides once it has a third of the letters
    script, count = max(
        ((s, n) for s, n in units.items() if s != "Latin"),
        key=lambda sn: sn[1],
        default=("Latin", 0),
    )
    if count * 3 < total:
        script = "Latin"
    kana = units["Hiragana"] + units["Katakana"]
    if kana and kana + units["Han"] >= total / 2:
        return "ja"
    if units["Han"] >= total / 2:
        simplified, traditional = (sum(text.count(c) for c in forms) for forms in _HAN_FORMS)
        return "zh-Hant" if traditional > simplified else "zh"
    if script in _SCRIPT_LANGUAGE:
        return _SCRIPT_LANGUAGE[script]
    candidates = _candidates(script)
    if not candidates:
        return None
    ranked = [(label, p) for label, p in _identifier().rank(text) if label in candidates]
    mass = sum(p for _, p in ranked)
    if not ranked or mass <= 0:
        return None
    label, p = ranked[0]
    return candidates[label] if p / mass >= MIN_CONFIDENCE else None
