"""Faithfulness checks of a translation, line by line: does each line say what its source says?

For a merchant who cannot read the target language, per line: what it says back in their
language, whether its facts (numbers, prices, sizes, SKUs, URLs) come from the source, whether
it means the same (cross-lingual embedding similarity) with the same polarity (negated on one
side only), whether words were left untranslated, and whether it has a source line at all.

Everything except the back-translation text is deterministic: the embedding model does not
sample, so the same source and translation get the same findings every time. The verdict of a
line is the worst of its findings: `fail` for a lost, changed or missing required fact, a
polarity flip or a line with no source; `review` for an invented fact, a meaning far off,
leftovers and the other translation guardrails; `pass` otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.languages import Language
from pipelines.text import faithfulness_findings as findings_of
from pipelines.text.faithfulness_findings import verdict_of
from pipelines.text.faithfulness_schema import (
    CheckedLine,
    CheckThresholds,
    Finding,
    TranslationCheckInput,
    TranslationCheckResult,
)
from pipelines.text.polarity import polarity_flip
from pipelines.text.translate import NO_SPACE_SCRIPTS

# Calibrated by scripts/calibrate_checks.py on its labelled zh<->en and zh<->es pairs (README:
# "Translation checks"). multilingual-e5-small puts any two texts at about 0.7 to 1.0: faithful
# lines scored 0.85-0.96 against their source, wrong ones 0.78-0.86, added ones 0.80-0.83
# against their closest source line. Read back (--back-translate, the default's chat model),
# faithful lines scored 0.835-0.994 against their source: the reading flags only what is far off.
THRESHOLDS = CheckThresholds(
    meaning_review_below=0.85,
    back_translation_review_below=0.82,
    hallucination_below=0.84,
)

Embed = Callable[[Sequence[str]], Awaitable[np.ndarray]]
BackTranslate = Callable[[Sequence[str]], Awaitable[list[str | None]]]


@dataclass(frozen=True)
class _Languages:
    source: Language
    target: Language
    merchant: Language


class FaithfulnessChecker:
    """Check translations with one embedding model and, optionally, a back-translator.

    `embed(texts)` returns one unit vector per text; `back_translate(lines)` what each line
    of the translation says in the merchant's language."""

    def __init__(
        self,
        embed: Embed,
        back_translate: BackTranslate | None,
        *,
        model: str | None,
        embedding_model: str,
        thresholds: CheckThresholds = THRESHOLDS,
    ) -> None:
        self.embed = embed
        self.back_translate = back_translate
        self.model = model if back_translate is not None else None
        self.embedding_model = embedding_model
        self.thresholds = thresholds

    async def check(
        self, request: TranslationCheckInput, source: Language, target: Language, merchant: Language
    ) -> TranslationCheckResult:
        """Findings per translation line and for the whole text; the request's glossary must be
        inlined in `glossary_entries` already."""
        languages = _Languages(source, target, merchant)
        alignment, sources, lines = units(request.source, request.translation)
        similarity = _Similarity(self.embed)
        await similarity.add([*sources, *lines])
        if alignment == "similarity":
            matches = [self._best_source(line, sources, similarity) for line in lines]
        else:
            matches = list(range(len(lines)))
        readings = (
            await self.back_translate(lines)
            if self.back_translate is not None
            else [None] * len(lines)
        )
        groups: dict[int, list[int]] = {}
        for number, match in enumerate(matches):
            if match is not None:
                groups.setdefault(match, []).append(number)
        joined = {i: _join([lines[n] for n in members], target) for i, members in groups.items()}
        read = {
            i: _join(parts, merchant)
            for i, members in groups.items()
            if None not in (parts := [readings[n] for n in members])
        }
        await similarity.add([*joined.values(), *(text for text in read.values() if text)])

        provenance = "\n".join(
            [request.source, *request.facts, *findings_of.glossary_texts(request.glossary_entries)]
        )
        checked: list[CheckedLine] = []
        for number, (line, match) in enumerate(zip(lines, matches, strict=True)):
            findings = findings_of.leftovers(line, request.source, target, request.glossary_entries)
            meaning: float | None = None
            back: float | None = None
            if match is None:
                meaning = similarity.best(line, sources)[1]
                findings.insert(0, findings_of.hallucinated(meaning))
            else:
                meaning = similarity(sources[match], joined[match])
                if read.get(match):
                    back = similarity(sources[match], read[match])
                findings[:0] = self._line_findings(
                    sources[match], joined[match], meaning, back, provenance, request, languages
                )
            checked.append(
                CheckedLine(
                    index=number,
                    translation=line,
                    source=None if match is None else sources[match],
                    source_index=match,
                    back_translation=readings[number],
                    similarity=_rounded(meaning),
                    back_similarity=_rounded(back),
                    verdict=verdict_of(findings),
                    findings=findings,
                )
            )
        findings = [
            *(findings_of.omitted(text) for i, text in enumerate(sources) if i not in groups),
            *findings_of.required_facts(request.facts, request.translation),
        ]
        return TranslationCheckResult(
            model=self.model,
            embedding_model=self.embedding_model,
            source_language=source.code,
            target_language=target.code,
            merchant_language=merchant.code,
            alignment=alignment,
            verdict=verdict_of([*findings, *(f for line in checked for f in line.findings)]),
            lines=checked,
            findings=findings,
            thresholds=self.thresholds,
        )

    def _best_source(
        self, line: str, sources: Sequence[str], similarity: _Similarity
    ) -> int | None:
        """The source line `line` translates; None when none is close enough (a line the
        translation added)."""
        best, score = similarity.best(line, sources)
        return best if score >= self.thresholds.hallucination_below else None

    def _line_findings(
        self,
        source: str,
        translation: str,
        meaning: float,
        back: float | None,
        provenance: str,
        request: TranslationCheckInput,
        languages: _Languages,
    ) -> list[Finding]:
        findings = findings_of.changed_facts(source, translation, provenance)
        flip = polarity_flip(source, languages.source.code, translation, languages.target.code)
        if flip is not None:
            findings.append(findings_of.polarity(flip))
        if meaning < self.thresholds.meaning_review_below:
            findings.append(findings_of.meaning_differs(meaning, self.thresholds))
        if back is not None and back < self.thresholds.back_translation_review_below:
            findings.append(
                findings_of.back_translation_differs(back, self.thresholds, languages.merchant)
            )
        findings += findings_of.guardrails(
            source, translation, languages.source, languages.target, request.glossary_entries
        )
        return findings


class _Similarity:
    """Cosine similarity of texts embedded once each (the vectors are unit length)."""

    def __init__(self, embed: Embed) -> None:
        self._embed = embed
        self._vectors: dict[str, np.ndarray] = {}

    async def add(self, texts: Sequence[str]) -> None:
        new = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if new:
            self._vectors.update(zip(new, await self._embed(new), strict=True))

    def __call__(self, a: str, b: str) -> float:
        return float(np.dot(self._vectors[a], self._vectors[b]))

    def best(self, text: str, candidates: Sequence[str]) -> tuple[int, float]:
        scores = [self(text, candidate) for candidate in candidates]
        best = int(np.argmax(scores))
        return best, scores[best]


# --- lines --------------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])\s*")


def split_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_sentences(text: str) -> list[str]:
    return [
        sentence.strip()
        for line in split_lines(text)
        for sentence in _SENTENCE_END.split(line)
        if sentence.strip()
    ]


def units(source: str, translation: str) -> tuple[str, list[str], list[str]]:
    """How to match the translation to its source, and the units matched: lines by position
    when both have as many lines, else sentences by position when both have as many, else
    sentences by similarity."""
    sources, lines = split_lines(source), split_lines(translation)
    if len(sources) == len(lines):
        return "lines", sources, lines
    sources, lines = split_sentences(source), split_sentences(translation)
    if len(sources) == len(lines):
        return "sentences", sources, lines
    return "similarity", sources, lines


def _join(parts: Sequence[str | None], language: Language) -> str:
    return ("" if language.script in NO_SPACE_SCRIPTS else " ").join(p or "" for p in parts)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
