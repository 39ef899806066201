"""Each dubbed line read back to the merchant: what it says in their language and, where it
translates the clip's speech, whether it says what was said (pipelines.text.faithfulness).

A merchant who reads only Chinese publishes Spanish they cannot read; the line's
back-translation is how they see that "ask not what your country can do for you" became "no
dudes en preguntar". In translate mode each line also has its source (the speech it
translates), so the translation checks run on it: facts changed or invented, a polarity flip,
a meaning far off, words left untranslated. A line written from keywords has no source line:
it is read back, and checked for words left in another script.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

from models.registry import ModelNotFound
from pipelines.languages import Language, load_languages
from pipelines.platform.jobs.context import JobContext
from pipelines.text import back_translation
from pipelines.text import faithfulness_findings as findings_of
from pipelines.text.faithfulness import BackTranslate, FaithfulnessChecker
from pipelines.text.faithfulness_schema import CheckedLine, TranslationCheckInput
from pipelines.text.translate import Translator
from pipelines.video.stage_kit import inference_span, job_input


async def read_back(
    ctx: JobContext, language: Language, lines: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per voiced line: its text, source (translate mode), back-translation into the job's
    merchant language (None where not asked for), findings and verdict."""
    params = job_input(ctx)
    catalogue = load_languages()
    merchant = catalogue.get(params.merchant_language, "merchant_language")
    # one line each: the checks match a translation to its source line by line
    texts = [" ".join(str(line["text"]).split()) for line in lines]
    sources = _sources(ctx, language, lines)
    spoken = params.source_language or (ctx.checkpoint.get("transcript") or {}).get("language")
    embedding = _embedding_model(ctx)
    registry = ctx.services.registry
    async with AsyncExitStack() as stack:
        reader: BackTranslate | None = None
        checked: list[CheckedLine] = []
        if texts and params.back_translate and language.code == merchant.code:
            reader = back_translation.as_written  # no model: the merchant reads it as it is
        elif texts and params.back_translate and params.chat_model is not None:
            chat = await stack.enter_async_context(registry.use(params.chat_model, kind="chat"))
            parallel = ctx.services.jobs.max_parallel_generations
            reader = back_translation.reader(
                Translator(chat, params.chat_model, max_parallel=parallel),
                language.code,
                merchant.code,
                params.seed,
            )
        if sources and spoken and embedding and all(texts):
            embedder = await stack.enter_async_context(registry.use(embedding, kind="embedding"))
            checker = FaithfulnessChecker(
                functools.partial(embedder.embed, input_type="query"),
                reader,
                model=params.chat_model,
                embedding_model=embedding,
            )
            request = TranslationCheckInput(
                source="\n".join(sources),
                translation="\n".join(texts),
                target_language=language.code,
                source_language=spoken,
                merchant_language=merchant.code,
                glossary_entries=params.glossary_entries,
            )
            reads = reader not in (None, back_translation.as_written)
            async with inference_span(ctx, "chat" if reads else "embedding"):
                result = await checker.check(request, catalogue.get(spoken), language, merchant)
            checked = result.lines
        if len(checked) != len(texts):  # not checked against its source: read back only
            said = [text for text in texts if text]
            read: Iterator[str | None]
            if reader is None:
                read = iter([None] * len(said))
            elif reader is back_translation.as_written:  # no model reads it
                read = iter(await reader(said))
            else:
                async with inference_span(ctx, "chat"):
                    read = iter(await reader(said))
            readings = [next(read) if text else None for text in texts]
            written = " ".join([*params.keywords, params.product_facts])
            checked = [
                _unsourced(n, text, reading, written, language, params.glossary_entries)
                for n, (text, reading) in enumerate(zip(texts, readings, strict=True))
            ]
    return [_entry(line, item) for line, item in zip(lines, checked, strict=True)]


def _unsourced(
    number: int,
    text: str,
    reading: str | None,
    written: str,
    language: Language,
    glossary: Sequence[Any],
) -> CheckedLine:
    """A line with no source line (written from keywords, or the merchant's own): read back, and
    checked for words left in another script (the keywords' names and glossary terms allowed)."""
    found = findings_of.leftovers(text, written, language, glossary)
    return CheckedLine(
        index=number,
        translation=text,
        source=None,
        source_index=None,
        back_translation=reading,
        similarity=None,
        back_similarity=None,
        verdict=findings_of.verdict_of(found),
        findings=found,
    )


def _entry(line: dict[str, Any], checked: CheckedLine) -> dict[str, Any]:
    return {
        "start": line.get("start"),
        "text": checked.translation,
        "source": checked.source,
        "back_translation": checked.back_translation,
        "similarity": checked.similarity,
        "back_similarity": checked.back_similarity,
        "verdict": checked.verdict,
        "findings": [finding.model_dump() for finding in checked.findings],
    }


def _sources(
    ctx: JobContext, language: Language, lines: Sequence[dict[str, Any]]
) -> list[str] | None:
    """The speech each voiced line translates (translate mode), matched by start time; None when
    the lines were not translated from the clip's speech."""
    written = ctx.checkpoint["scripts"][language.code]["report"].get("line_sources")
    if job_input(ctx).mode != "translate" or not isinstance(written, dict):
        return None
    found = [written.get(f"{float(line['start']):.3f}") for line in lines]
    if None in found:
        return None
    sources = [" ".join(str(source).split()) for source in found]
    return sources if all(sources) else None


def _embedding_model(ctx: JobContext) -> str | None:
    """The configured embedding model that compares meaning, if there is one and its weights are
    here (without them the lines are read back unchecked, not the dub failed)."""
    registry = ctx.services.registry
    try:
        spec = registry.default("embedding")
    except ModelNotFound:
        return None
    if spec.path and not registry.path_of(spec).exists():
        return None
    model_id: str = spec.id
    return model_id
