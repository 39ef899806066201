"""The "copywriting" job type: write (checkpointing each finished language), publish."""

from __future__ import annotations

from typing import cast

from pydantic import BaseModel

from pipelines.chat_model import chat_model_id
from pipelines.coverage import check_languages, result_warnings
from pipelines.platform.jobs.context import JobContext, JobServices
from pipelines.platform.jobs.job_type import JobType, Stage
from pipelines.text.copywriting import Copywriter
from pipelines.text.copywriting_schema import CopywritingInput, CopywritingResult, LanguageCopy


async def _prepare(model: BaseModel, tenant: str, services: JobServices) -> BaseModel:
    request = cast(CopywritingInput, model)
    model_id = chat_model_id(services.registry, request.model, "input.model")
    check_languages(
        services,
        model_id,
        request.targets(),
        "input.target_languages",
        request.allow_unusable_languages,
    )
    return request.model_copy(update={"model": model_id})


async def _write(context: JobContext) -> None:
    request = cast(CopywritingInput, context.input)
    model_id = chat_model_id(context.services.registry, request.model)
    done = [LanguageCopy.model_validate(copy) for copy in context.checkpoint.get("copies", [])]

    async def finished(copy: LanguageCopy) -> None:
        context.checkpoint.setdefault("copies", []).append(copy.model_dump(mode="json"))
        await context.save(len(context.checkpoint["copies"]) / len(request.targets()))

    async with context.services.registry.use(model_id, kind="chat") as backend:
        writer = Copywriter(
            backend,
            model_id,
            max_parallel=context.services.jobs.max_parallel_generations,
        )
        result = await writer.write(request, done=done, on_copy=finished)
    warnings = result_warnings(context.services, model_id, request.targets())
    result = result.model_copy(update={"warnings": warnings})
    context.checkpoint["result"] = result.model_dump(mode="json")


async def _publish(context: JobContext) -> None:
    result = CopywritingResult.model_validate(context.checkpoint["result"])
    await context.write_artifact("copy.json", result.model_dump_json(indent=2), "application/json")
    context.result = result.model_dump(mode="json")


COPYWRITING_JOB = JobType(
    name="copywriting",
    input_model=CopywritingInput,
    stages=(Stage("write", _write, weight=10), Stage("publish", _publish)),
    resource="llm",
    prepare=_prepare,
    description="Titles, selling points, descriptions and video scripts per language, as JSON",
)
