"""The "translation" job type: translate (checkpointing each finished text and target), publish."""

from __future__ import annotations

from typing import TypeVar, cast

from pydantic import BaseModel

from pipelines.chat_model import chat_model_id
from pipelines.coverage import check_languages, result_warnings
from pipelines.errors import InvalidInput, NotFound
from pipelines.platform.jobs.context import JobContext, JobServices
from pipelines.platform.jobs.job_type import JobType, Stage
from pipelines.text.back_translation import with_back_translations
from pipelines.text.faithfulness_schema import TranslationCheckInput
from pipelines.text.glossary import GlossaryEntry, load_glossary
from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput, TranslationItem, TranslationResult

GlossaryRequest = TypeVar("GlossaryRequest", TranslationInput, TranslationCheckInput)


async def resolve_glossary(
    request: GlossaryRequest, tenant: str, services: JobServices
) -> GlossaryRequest:
    """Inline the named glossary (a snapshot: later edits do not change this request)."""
    if request.glossary is None:
        return request
    try:
        entries: list[GlossaryEntry] = await load_glossary(
            services.glossaries, tenant, request.glossary
        )
    except NotFound as exc:
        raise InvalidInput(exc.message, param="glossary", code=exc.code) from exc
    return request.model_copy(
        update={"glossary": None, "glossary_entries": [*entries, *request.glossary_entries]}
    )


async def _prepare(model: BaseModel, tenant: str, services: JobServices) -> BaseModel:
    request = cast(TranslationInput, model)
    model_id = chat_model_id(services.registry, request.model, "input.model")
    check_languages(
        services,
        model_id,
        request.targets(),
        "input.target_languages",
        request.allow_unusable_languages,
    )
    request = await resolve_glossary(request, tenant, services)
    return request.model_copy(update={"model": model_id})


async def _translate(context: JobContext) -> None:
    request = cast(TranslationInput, context.input)
    model_id = chat_model_id(context.services.registry, request.model)
    done = [TranslationItem.model_validate(item) for item in context.checkpoint.get("items", [])]
    total = len(request.texts()) * len(request.targets())

    async def finished(item: TranslationItem) -> None:
        context.checkpoint.setdefault("items", []).append(item.model_dump(mode="json"))
        await context.save(len(context.checkpoint["items"]) / total)

    async with context.services.registry.use(model_id, kind="chat") as backend:
        translator = Translator(
            backend, model_id, max_parallel=context.services.jobs.max_parallel_generations
        )
        result = await translator.translate(request, done=done, on_item=finished)
        result = await with_back_translations(translator, request, result)
    warnings = result_warnings(context.services, model_id, request.targets())
    result = result.model_copy(update={"warnings": warnings})
    context.checkpoint["result"] = result.model_dump(mode="json")


async def _publish(context: JobContext) -> None:
    request = cast(TranslationInput, context.input)
    result = TranslationResult.model_validate(context.checkpoint["result"])
    await context.write_artifact(
        "translation.json", result.model_dump_json(indent=2), "application/json"
    )
    for item in result.translations:
        if item.text is not None:
            name = f"translation-{item.index}.{item.target_language}.txt"
            await context.write_artifact(name, item.text, "text/plain; charset=utf-8")
    context.result = result.model_dump(mode="json")
    if request.on_failure == "error":
        result.raise_for_failures()


TRANSLATION_JOB = JobType(
    name="translation",
    input_model=TranslationInput,
    stages=(Stage("translate", _translate, weight=10), Stage("publish", _publish)),
    resource="llm",
    prepare=_prepare,
    description="Translate texts into one or more languages with glossary and number checks",
)
