"""What each faithfulness check finds, as findings a merchant can act on: a machine code, a
verdict, and a message in English and in Chinese (for the console). pipelines.text.faithfulness
decides which lines to compare; these functions say what is wrong with a pair of them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipelines.languages import ISO_SCRIPTS, Language
from pipelines.text.faithfulness_schema import CheckThresholds, Finding, FindingCode, Verdict
from pipelines.text.glossary import GlossaryEntry
from pipelines.text.guardrails import (
    ProtectedToken,
    describe_missing,
    invented_numbers,
    missing_tokens,
    protected_tokens,
)
from pipelines.text.polarity import PolarityFlip
from pipelines.text.translation_checks import CLAIM_PROBLEM, translation_problems


def verdict_of(findings: Sequence[Finding]) -> Verdict:
    """The worst verdict of `findings`: pass when there are none."""
    verdicts = {finding.verdict for finding in findings}
    return "fail" if "fail" in verdicts else "review" if "review" in verdicts else "pass"


# --- facts --------------------------------------------------------------------------------------
def changed_facts(source: str, translation: str, provenance: str) -> list[Finding]:
    """Facts of the source line lost or changed in its translation, and facts the translation
    has from no source, fact or glossary term."""
    lost = missing_tokens(source, translation)
    # prices and numbers compared as facts (any form of "USD 3.20"); codes, sizes, names, URLs
    # as written
    invented = invented_numbers(provenance, translation) + [
        token
        for token in missing_tokens(translation, provenance)
        if token.kind not in ("price", "number")
    ]
    if lost and invented:
        was, now = _listed(lost), _listed(invented)
        return [
            Finding(
                code="fact_changed",
                verdict="fail",
                message=f"Changed: the source says {was}, the translation {now}.",
                message_zh=f"事实被改动：原文为 {was}，译文却是 {now}。",
            )
        ]
    findings = []
    if lost:
        findings.append(
            Finding(
                code="fact_missing",
                verdict="fail",
                message=f"Missing from the translation: {_listed(lost)}.",
                message_zh=f"译文缺少原文的：{_listed(lost)}。",
            )
        )
    if invented:
        findings.append(
            Finding(
                code="fact_invented",
                verdict="review",
                message=f"Not in the source, the facts or the glossary: {_listed(invented)}.",
                message_zh=f"原文、事实和词汇表中都没有：{_listed(invented)}。",
            )
        )
    return findings


def _listed(tokens: Sequence[ProtectedToken]) -> str:
    return ", ".join(f"'{token.text}'" for token in tokens)


def required_facts(facts: Sequence[str], translation: str) -> list[Finding]:
    """A required fact is present when its numbers and codes all are (in any form the checks
    accept), or, for a fact with none, when its words are there as written."""
    findings = []
    for fact in facts:
        tokens = protected_tokens(fact)
        if tokens:
            present = not missing_tokens(fact, translation)
        else:
            present = fact.casefold() in translation.casefold()
        if not present:
            findings.append(
                Finding(
                    code="required_fact_missing",
                    verdict="fail",
                    message=f"The required fact '{fact}' is not in the translation.",
                    message_zh=f"译文中没有必须包含的事实“{fact}”。",
                )
            )
    return findings


def omitted(source: str) -> Finding:
    tokens = protected_tokens(source)
    facts = f" It carried {_listed(tokens)}." if tokens else ""
    facts_zh = f"其中包含 {_listed(tokens)}。" if tokens else ""
    return Finding(
        code="line_omitted",
        verdict="fail" if tokens else "review",
        message=f"No translation line renders the source line '{source}'.{facts}",
        message_zh=f"原文这一行没有被翻译：“{source}”。{facts_zh}",
    )


# --- meaning ------------------------------------------------------------------------------------
def polarity(flip: PolarityFlip) -> Finding:
    theirs = ", ".join(flip.source_negations) or "none"
    ours = ", ".join(flip.translation_negations) or "none"
    if flip.opposite:
        return Finding(
            code="polarity_flip",
            verdict="fail",
            message=f"Negated on one side only: the source's negations ({theirs}) and the "
            f"translation's ({ours}) give opposite meanings.",
            message_zh=f"肯定与否定相反：原文的否定词（{theirs}）与译文的否定词（{ours}）意思相反。",
        )
    return Finding(
        code="polarity_flip",
        verdict="review",
        message=f"The source negates {len(flip.source_negations)} times ({theirs}), the "
        f"translation {len(flip.translation_negations)} times ({ours}): two meanings flipped, "
        "or a double negative reworded.",
        message_zh=f"否定词数量不同：原文（{theirs}），译文（{ours}）；可能有两处意思被反转。",
    )


def meaning_differs(score: float, thresholds: CheckThresholds) -> Finding:
    limit = thresholds.meaning_review_below
    return Finding(
        code="meaning_differs",
        verdict="review",
        message=f"The line and its source differ in meaning (similarity {score:.2f}, below "
        f"{limit:.2f}).",
        message_zh=f"译文与原文意思相差较大（相似度 {score:.2f}，低于 {limit:.2f}）。",
    )


def back_translation_differs(
    score: float, thresholds: CheckThresholds, merchant: Language
) -> Finding:
    limit = thresholds.back_translation_review_below
    return Finding(
        code="back_translation_differs",
        verdict="review",
        message=f"Read back in {merchant.name}, the line differs from its source (similarity "
        f"{score:.2f}, below {limit:.2f}).",
        message_zh=f"回译与原文意思相差较大（相似度 {score:.2f}，低于 {limit:.2f}）。",
    )


def hallucinated(closest: float) -> Finding:
    return Finding(
        code="hallucinated_line",
        verdict="fail",
        message=f"No source line says this (closest similarity {closest:.2f}): the line was "
        "added by the translation.",
        message_zh=f"原文中没有对应的句子（最高相似度 {closest:.2f}）：这一行是译文添加的。",
    )


# --- leftovers and guardrails -------------------------------------------------------------------
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_TITLE_WORD = re.compile(r"\b[A-Z][a-z]+\b")


def leftovers(
    line: str, source: str, target: Language, glossary: Sequence[GlossaryEntry]
) -> list[Finding]:
    """Latin words left in a line of a language written in another script, apart from brand
    and glossary terms, codes and acronyms (BPA, iPhone), units after a number (500ml) and
    names the source capitalises (Yiwu Star). Latin-script targets: translation_problems finds
    Chinese, Japanese or Korean left in them."""
    if "Latin" in ISO_SCRIPTS.get(target.script, {"Latin"}):
        return []
    kept = {
        word.casefold() for text in glossary_texts(glossary) for word in _LATIN_WORD.findall(text)
    }
    names = set(_TITLE_WORD.findall(source))
    left = []
    for match in _LATIN_WORD.finditer(line):
        word = match.group(0)
        unit = line[: match.start()].rstrip()[-1:].isdigit() and len(word) <= 4
        acronym = any(c.isupper() for c in word[1:])
        if len(word) < 2 or unit or acronym or word in names or word.casefold() in kept:
            continue
        left.append(word)
    if not left:
        return []
    words = ", ".join(f"'{word}'" for word in dict.fromkeys(left))
    return [
        Finding(
            code="leftover",
            verdict="review",
            message=f"Left untranslated in {target.name}: {words}.",
            message_zh=f"译文中有未翻译的词：{words}。",
        )
    ]


def glossary_texts(glossary: Sequence[GlossaryEntry]) -> list[str]:
    return [text for entry in glossary for text in (entry.term, *entry.translations.values())]


# How translation_checks words the problems that the fact findings report already, in the terms
# of the request's facts and glossary (as server/console/text_checks.py files them)
_FACT_PROBLEMS = ("lost or changed ", "added ")


def guardrails(
    source: str,
    translation: str,
    source_language: Language,
    target: Language,
    glossary: Sequence[GlossaryEntry],
) -> list[Finding]:
    """The translation guardrails' other problems (script, glossary, copy, loops); the facts
    they check are reported above, with the forms of a fact they accept."""
    facts = describe_missing(missing_tokens(source, translation))
    findings = []
    for problem in translation_problems(
        source, translation, target, glossary, None, source_language
    ):
        if problem == facts or problem.startswith(_FACT_PROBLEMS):
            continue
        findings.append(
            Finding(
                code=_problem_code(problem),
                verdict="review",
                message=problem,
                message_zh=f"译文未通过检查：{problem}",
            )
        )
    return findings


def _problem_code(problem: str) -> FindingCode:
    if problem.startswith("left untranslated"):
        return "leftover"
    # a material, certification or feature claim the source never makes is an invented fact
    return "fact_invented" if problem.startswith(CLAIM_PROBLEM) else "guardrail"
