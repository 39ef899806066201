"""The console's languages, zh_CN and en: message catalogs (Babel .po files) read at start-up.

Message ids are the English text, so English needs no catalog; Chinese is
locale/zh_CN/LC_MESSAGES/messages.po. `make messages` re-extracts the ids from the templates and
Python files (see babel.cfg) and adds the new ones to the catalog, to be translated there.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("en", "zh_CN")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "zh_CN": "中文"}
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """gettext's marker: `make messages` extracts the string; it is translated when shown."""
    return message


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The translations of `locale` (English: the message ids themselves)."""
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as msgfmt does
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def language_name(code: str, locale: str) -> str:
    """A language's name in the viewer's language, from CLDR through Babel ("de" is 德语 in
    zh_CN); the code itself where CLDR does not know it."""
    try:
        return Locale.parse(code.replace("-", "_")).get_display_name(locale) or code
    except (ValueError, UnknownLocaleError):
        return code


def choose_locale(chosen: str | None, accept_language: str | None) -> str:
    """The locale the user picked (the switch's cookie), else the best of Accept-Language."""
    if chosen in LOCALES:
        return chosen
    for tag in _preferred(accept_language or ""):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def _preferred(header: str) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (RFC 9110 weights)."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and weight > 0:
            weighted.append((-weight, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]
