"""A translation result as the merchant sees it: per language, which merchant checks it passed.

The pipeline reports only what failed (pipelines.text.translation_checks names each problem);
what passed is every check that applied. A check applies when the source gives it something to
check: numbers, prices, sizes and codes the source holds (guardrails.protected_tokens), glossary
terms that occur in it (glossary.applicable_entries); the language and the cleanliness of the
output are always checked. Each problem the pipeline named is filed under its check by its
wording, so the list stays right as long as translation_checks words its problems as it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipelines.coverage import LanguageWarning
from pipelines.languages import Language, load_languages
from pipelines.text.glossary import GlossaryEntry, applicable_entries
from pipelines.text.guardrails import protected_tokens
from pipelines.text.translation_schema import TranslationItem, TranslationResult

CheckKind = Literal["kept", "glossary", "language", "clean"]

# how translation_checks begins each problem -> the check it belongs to; anything else is "clean"
# (empty, cut off, far too long, repeated)
_PROBLEM_KINDS: tuple[tuple[str, CheckKind], ...] = (
    ("lost or changed", "kept"),
    ("added ", "kept"),  # a number the source does not state
    ("glossary:", "glossary"),
    ("still in ", "language"),
    ("written in English", "language"),
    ("not written in", "language"),
    ("left untranslated", "language"),
    ("the source text copied", "language"),
    ("only the numbers", "language"),
)


@dataclass(frozen=True)
class Check:
    kind: CheckKind
    detail: list[str]  # what was checked: the tokens or terms (the merchant's own words)
    problems: list[str]  # the pipeline's words for what failed; empty: passed

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class TranslationView:
    item: TranslationItem
    language: Language
    checks: list[Check]
    warning: LanguageWarning | None  # the chat model is not rated good in this language
    rejected: str | None  # the last candidate of a failed segment, shown as rejected

    @property
    def checked(self) -> bool:
        """False when nothing was generated (the text is already in the target language)."""
        return self.item.attempts > 0


def problem_kind(problem: str) -> CheckKind:
    return next((kind for start, kind in _PROBLEM_KINDS if problem.startswith(start)), "clean")


def translation_views(
    result: TranslationResult, source: str, glossary: Sequence[GlossaryEntry]
) -> list[TranslationView]:
    """One view per target language of a single-text result."""
    catalogue = load_languages()
    warnings = {warning.language: warning for warning in result.warnings}
    tokens = list(dict.fromkeys(token.text for token in protected_tokens(source)))
    entries = applicable_entries(glossary, source)
    views = []
    for item in result.translations:
        language = catalogue.get(item.target_language)
        problems = [p for failure in item.failures for p in failure.problems]

        def filed(kind: CheckKind, detail: list[str], problems: list[str] = problems) -> Check:
            return Check(kind, detail, [p for p in problems if problem_kind(p) == kind])

        checks = [filed("kept", tokens)] if tokens else []
        if entries:
            terms = [_term(entry, language) for entry in entries]
            checks.append(filed("glossary", terms))
        checks += [filed("language", []), filed("clean", [])]
        rejected = next((f.output for f in item.failures if f.output), None)
        views.append(
            TranslationView(item, language, checks, warnings.get(item.target_language), rejected)
        )
    return views


def _term(entry: GlossaryEntry, target: Language) -> str:
    wanted = entry.rendering(target)
    return entry.term if wanted == entry.term else f"{entry.term} → {wanted}"
