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
_STOPWORD_TEXT = {
    "en": "the and for with this that is are of to in on your you our it from",
    "es": "el la los las de del que y con para por en es una un su sus muy",
    "pt": "o a os as de do da que e com para por em é uma um seu sua não muito",
    "fr": "le la les de des du et est un une pour avec dans en sur votre vous très",
    "de": "der die das und ist mit für ein eine nicht auf den dem zu von sie ihr",
    "it": "il lo la gli le di del e è con per un una che in su molto della",
    "nl": "de het een en van is met voor op in niet zijn dat die deze",
    "pl": "i w z na do jest się nie to że od dla jak oraz",
    "tr": "ve bir bu için ile da de çok olan gibi daha en",
    "vi": "và của là có cho với một các này được những không",
    "id": "dan yang untuk dengan ini itu dari di ke adalah tidak kami anda",
    "ms": "dan yang untuk dengan ini itu dari di ke ialah tidak kami anda boleh",
    "ro": "și în de la cu pentru este un o care din pe nu",
    "cs": "a v na je se s pro z do že to jako ale",
    "sv": "och är att det en ett för med på av som inte till",
    "da": "og er at det en et for med på af som ikke til",
    "fi": "ja on se että ei kanssa tai mutta kuin myös",
    "hu": "a az és egy hogy nem van is meg ez mint",
    "fil": "ang ng mga sa at na ay para ito hindi kay",
    "sw": "na ya wa kwa ni za la katika hii kuwa",
    "ha": "da a na ta ba wannan don ya suna shi",
    "yo": "ati ni ti fun si pe o won awon",
    "zu": "futhi ukuthi kanye noma uma kodwa",
    "uz": "va bu bilan uchun ham bir emas edi",
}
_STOPWORDS = {code: frozenset(words.split()) for code, words in _STOPWORD_TEXT.items()}
_LATIN_MARKS: dict[str, str] = {
    "vi": "ơưăđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
    "tr": "ığş",
    "pl": "łąężźśń",
    "ro": "șțţş",
    "cs": "řůěčšž",
    "hu": "őű",
    "de": "ßäöü",
    "sv": "åäö",
    "da": "æøå",
    "es": "ñ¿¡",
    "pt": "ãõç",
    "fr": "çèêœàù",
    "ha": "ɓɗƙ",
    "yo": "ẹọṣ",
    "uz": "ʻ",
}
_URDU_LETTERS = set("ٹڈڑںےۓھ")
_PERSIAN_LETTERS = set("پچژگکی")
_UKRAINIAN_LETTERS = set("їєґ")
_KAZAKH_LETTERS = set("әғқңөұүһ")
_SIMPLIFIED = set("们这个为与说买卖价货还会时东门车长发页")
_TRADITIONAL = set("們這個為與說買賣價貨還會時東門車長發頁")


def detect_language(text: str) -> str | None:
    """Best guess of the language of `text` from its script and common words; None if unsure."""
    units = script_units(text)
    if not units:
        return None
    script = units.most_common(1)[0][0]
    chars = set(text)
    if script in ("Hiragana", "Katakana") or (
        script == "Han" and (units["Hiragana"] or units["Katakana"])
    ):
        return "ja"
    if script == "Han":
        return "zh-Hant" if len(chars & _TRADITIONAL) > len(chars & _SIMPLIFIED) else "zh"
    if script == "Arabic":
        if chars & _URDU_LETTERS:
            return "ur"
        return "fa" if chars & _PERSIAN_LETTERS else "ar"
    if script == "Cyrillic":
        if chars & _KAZAKH_LETTERS:
            return "kk"
        return "uk" if chars & _UKRAINIAN_LETTERS else "ru"
    by_script = {
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
    if script in by_script:
        return by_script[script]
    return _detect_latin(text)


def _detect_latin(text: str) -> str | None:
    words = [w.lower() for w in _WORD.findall(text)]
    lowered = text.lower()
    scores: Counter[str] = Counter()
    for code, stopwords in _STOPWORDS.items():
        scores[code] += sum(1 for w in words if w in stopwords)
    for code, marks in _LATIN_MARKS.items():
        scores[code] += 2 * sum(lowered.count(mark) for mark in marks)
    if not scores or scores.most_common(1)[0][1] == 0:
        return None
    return scores.most_common(1)[0][0]
