"""Whisper's languages: ISO-639-1 codes (Whisper's own spelling) and the English names OpenAI returns."""

from __future__ import annotations

# In Whisper's token order; the last one (yue) exists only in large-v3 and later.
# fmt: off
LANGUAGES: dict[str, str] = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian",
    "ko": "korean", "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish",
    "pl": "polish", "ca": "catalan", "nl": "dutch", "ar": "arabic", "sv": "swedish",
    "it": "italian", "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay", "cs": "czech",
    "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian",
    "la": "latin", "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali", "sr": "serbian",
    "az": "azerbaijani", "sl": "slovenian", "kn": "kannada", "et": "estonian", "mk": "macedonian",
    "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian", "ne": "nepali",
    "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer",
    "sn": "shona", "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan",
    "ka": "georgian", "be": "belarusian", "tg": "tajik", "sd": "sindhi", "gu": "gujarati",
    "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese",
    "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese",
    "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}
# fmt: on
_BY_NAME = {name: code for code, name in LANGUAGES.items()}


class UnknownLanguage(ValueError):
    """A language code that Whisper does not know at all."""

    def __init__(self, language: str) -> None:
        super().__init__(
            f"'{language}' is not a language Whisper knows. Use an ISO-639-1 code such as "
            f"'en', 'zh', 'de', 'es' or 'ja' (one of: {', '.join(sorted(LANGUAGES))})."
        )
        self.language = language


def language_code(language: str) -> str:
    """Whisper's code for `language`: a code ('en'), a tag ('en-US', 'zh_CN') or a name ('English')."""
    text = language.strip().lower()
    if text in LANGUAGES:
        return text
    if text in _BY_NAME:
        return _BY_NAME[text]
    primary = text.replace("_", "-").split("-", 1)[0]
    if primary in LANGUAGES:
        return primary
    raise UnknownLanguage(language)


def language_name(code: str) -> str:
    """The lower-case English name OpenAI puts in verbose responses ('en' -> 'english')."""
    return LANGUAGES.get(code, code)
