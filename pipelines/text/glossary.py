"""Per-tenant glossaries: brand names, SKUs and units that must stay, or map to a fixed term."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from pipelines.errors import InvalidInput, NotFound
from pipelines.languages import Language, language_codes, load_languages
from pipelines.platform.jobs.store import GlossaryRecord, GlossaryStore
from pipelines.text.guardrails import normalize

# Ends with "nothing follows", not "$": in Python and in JSON Schema's readers that use its re,
# "$" lets a final "\n" through. The API's schemas state this pattern as it is.
GLOSSARY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(?![\s\S])")
MAX_ENTRIES = 2000
# A character str.strip() keeps, written so that JSON Schema's regex dialect agrees: schemas
# state it as the `pattern` of texts the server refuses when blank.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"


class GlossaryEntry(BaseModel):
    """`term` as written in the source; `translations[lang]` is the one rendering allowed in that
    target language, and a language absent there must keep `term` unchanged."""

    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=200)
    translations: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=lambda schema: schema.update(
            propertyNames={"enum": list[JsonValue](language_codes())},
            additionalProperties={"type": "string", "pattern": NOT_BLANK},
        ),
    )
    case_sensitive: bool = True

    @field_validator("translations")
    @classmethod
    def _known_languages(cls, value: dict[str, str]) -> dict[str, str]:
        catalogue = load_languages()
        result = {}
        for tag, rendering in value.items():
            language = catalogue.find(tag)
            if language is None:
                raise ValueError(f"unsupported language '{tag}' in translations")
            if not rendering.strip():
                raise ValueError(f"empty translation of the term for '{tag}'")
            result[language.code] = rendering
        return result

    def rendering(self, target: Language) -> str:
        return self.translations.get(target.code, self.term)


class Glossary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[GlossaryEntry] = Field(max_length=MAX_ENTRIES)


def _occurrences(term: str, text: str, case_sensitive: bool) -> int:
    # word boundaries only against letters of the term's own kind, so that "Yiwu Star" is found
    # in "采用Yiwu Star保温杯" but "Star" is not found in "Starlight"
    left = r"(?<![A-Za-z0-9])" if term[:1].isascii() and term[:1].isalnum() else ""
    right = r"(?![A-Za-z0-9])" if term[-1:].isascii() and term[-1:].isalnum() else ""
    flags = 0 if case_sensitive else re.IGNORECASE
    return len(re.findall(left + re.escape(normalize(term)) + right, normalize(text), flags))


def applicable_entries(entries: Sequence[GlossaryEntry], source: str) -> list[GlossaryEntry]:
    """The entries whose term occurs in `source`, longest first (so "Yiwu Star Pro" wins)."""
    hits = [e for e in entries if _occurrences(e.term, source, e.case_sensitive)]
    return sorted(hits, key=lambda e: -len(e.term))


def glossary_problems(
    entries: Sequence[GlossaryEntry], source: str, output: str, target: Language
) -> list[str]:
    problems = []
    for entry in applicable_entries(entries, source):
        wanted = entry.rendering(target)
        if not _occurrences(wanted, output, entry.case_sensitive):
            action = "keep" if wanted == entry.term else f"render '{entry.term}' as"
            problems.append(f"glossary: must {action} '{wanted}'")
    return problems


def check_glossary_name(name: str) -> str:
    if not GLOSSARY_NAME.match(name):
        raise InvalidInput(
            f"Invalid glossary name '{name}': 1-64 letters, digits, '.', '_' or '-'",
            param="name",
            code="invalid_glossary_name",
        )
    return name


def parse_entries(entries: list[dict[str, Any]], param: str = "entries") -> list[GlossaryEntry]:
    try:
        return Glossary.model_validate({"entries": entries}).entries
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"{first['msg']}: '{where}'", param=where or param, code="invalid_glossary"
        ) from exc


async def save_glossary(
    store: GlossaryStore, tenant: str, name: str, entries: Sequence[GlossaryEntry]
) -> GlossaryRecord:
    check_glossary_name(name)
    dumped = [e.model_dump(exclude_defaults=True) for e in entries]
    return await store.put_glossary(tenant, name, dumped)


async def load_glossary(store: GlossaryStore, tenant: str, name: str) -> list[GlossaryEntry]:
    record = await store.get_glossary(tenant, check_glossary_name(name))
    if record is None:
        raise NotFound(f"No glossary named '{name}'", param="glossary", code="glossary_not_found")
    return parse_entries(record.entries)
