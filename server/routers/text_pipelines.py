"""Merchant text endpoints: /v1/translations, /v1/copywriting, /v1/glossaries, /v1/languages."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Request

from pipelines.copywriting import RESULT_SCHEMA
from pipelines.coverage import language_coverage
from pipelines.glossary import check_glossary_name, parse_entries, save_glossary
from pipelines.presets import load_presets
from pipelines.text_service import TextPipelines
from server.deps import TenantDep
from server.errors import APIError
from server.metering import MeterDep
from server.routers.jobs import JobsDep, pipeline_errors
from server.schemas.text_pipelines import (
    CopywritingRequest,
    CopywritingResponse,
    GlossaryDeleted,
    GlossaryList,
    GlossaryObject,
    GlossaryPutRequest,
    LanguageList,
    LanguageObject,
    PresetList,
    TranslationRequest,
    TranslationResponse,
)

router = APIRouter(prefix="/v1", tags=["merchant text"])


def get_text_pipelines(request: Request, jobs: JobsDep) -> TextPipelines:
    return TextPipelines(jobs.services, admit=request.app.state.gate.enter)


TextDep = Annotated[TextPipelines, Depends(get_text_pipelines)]


@router.post("/translations")
async def translate(
    body: TranslationRequest, pipelines: TextDep, tenant: TenantDep, meter: MeterDep
) -> TranslationResponse:
    """Translate one text or a batch into one or more languages, with merchant guardrails."""
    with pipeline_errors():
        async with meter.pipeline_tokens():
            result = await pipelines.translate(tenant, body)
    return TranslationResponse.model_validate(result.model_dump())


@router.post("/copywriting")
async def write_copy(
    body: CopywritingRequest, pipelines: TextDep, tenant: TenantDep, meter: MeterDep
) -> CopywritingResponse:
    """Title, selling points, description and video script per language, schema-valid JSON."""
    with pipeline_errors():
        async with meter.pipeline_tokens():
            result = await pipelines.write_copy(tenant, body)
    return CopywritingResponse.model_validate(result.model_dump())


@router.get("/copywriting/schema")
async def copywriting_schema(_: TenantDep) -> dict[str, Any]:
    """The JSON schema every copywriting response validates against."""
    return RESULT_SCHEMA


@router.get("/copywriting/presets")
async def copywriting_presets(_: TenantDep) -> PresetList:
    book = load_presets()
    return PresetList(presets=book.presets, tones=book.tones)


@router.get("/languages")
async def languages(jobs: JobsDep, _: TenantDep, model: str | None = None) -> LanguageList:
    """Per language: the chat model's rating, TTS voices and ASR models (see the README)."""
    with pipeline_errors():
        report = await language_coverage(jobs.services, model)
    return LanguageList(
        chat_model=report.chat_model,
        thresholds=report.thresholds,
        data=[LanguageObject(**entry.model_dump()) for entry in report.languages],
    )


@router.get("/glossaries")
async def list_glossaries(jobs: JobsDep, tenant: TenantDep) -> GlossaryList:
    records = await jobs.store.list_glossaries(tenant)
    return GlossaryList(data=[GlossaryObject.from_record(r) for r in records])


@router.put("/glossaries/{name}")
async def put_glossary(
    name: str, body: GlossaryPutRequest, jobs: JobsDep, tenant: TenantDep
) -> GlossaryObject:
    """Create or replace one of your glossaries."""
    with pipeline_errors():
        check_glossary_name(name)
        entries = parse_entries(body.entries)
        record = await save_glossary(jobs.store, tenant, name, entries)
    return GlossaryObject.from_record(record)


@router.get("/glossaries/{name}")
async def get_glossary(name: str, jobs: JobsDep, tenant: TenantDep) -> GlossaryObject:
    with pipeline_errors():
        record = await jobs.store.get_glossary(tenant, check_glossary_name(name))
    if record is None:
        raise_not_found(name)
    return GlossaryObject.from_record(record)


@router.delete("/glossaries/{name}")
async def delete_glossary(name: str, jobs: JobsDep, tenant: TenantDep) -> GlossaryDeleted:
    with pipeline_errors():
        deleted = await jobs.store.delete_glossary(tenant, check_glossary_name(name))
    if not deleted:
        raise_not_found(name)
    return GlossaryDeleted(name=name, deleted=True)


def raise_not_found(name: str) -> NoReturn:
    raise APIError(404, f"No glossary named '{name}'", param="name", code="glossary_not_found")
