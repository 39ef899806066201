"""Merchant text endpoints: /v1/translations (and /checks), /v1/copywriting, /v1/glossaries,
/v1/languages."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Path, Request

from pipelines.coverage import language_coverage
from pipelines.text.copywriting_schema import RESULT_SCHEMA
from pipelines.text.glossary import (
    GLOSSARY_NAME,
    check_glossary_name,
    parse_entries,
    save_glossary,
)
from pipelines.text.presets import load_presets
from server.cancellation import unless_disconnected
from server.deps import GlossariesDep, TenantDep, TextPipelinesDep
from server.errors import APIError
from server.metering import MeterDep
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
    TranslationCheckRequest,
    TranslationCheckResponse,
    TranslationRequest,
    TranslationResponse,
)

router = APIRouter(prefix="/v1", tags=["merchant text"])

# Checked by check_glossary_name (code invalid_glossary_name); the schema states the same rule.
GlossaryName = Annotated[
    str,
    Path(
        description="1-64 letters, digits, '.', '_' or '-'",
        json_schema_extra={"pattern": GLOSSARY_NAME.pattern},
    ),
]


@router.post("/translations")
async def translate(
    body: TranslationRequest,
    request: Request,
    pipelines: TextPipelinesDep,
    tenant: TenantDep,
    meter: MeterDep,
) -> TranslationResponse:
    """Translate one text or a batch into one or more languages, with merchant guardrails."""
    async with meter.pipeline_tokens():
        result = await unless_disconnected(request, pipelines.translate(tenant, body))
    return TranslationResponse.model_validate(result.model_dump())


@router.post("/translations/checks")
async def check_translation(
    body: TranslationCheckRequest,
    request: Request,
    pipelines: TextPipelinesDep,
    tenant: TenantDep,
    meter: MeterDep,
) -> TranslationCheckResponse:
    """Check a translation from anyone against its source, line by line: back-translation into
    the merchant's language, facts, meaning, polarity, leftovers, lines with no source, verdict."""
    async with meter.pipeline_tokens():
        result = await unless_disconnected(request, pipelines.check_translation(tenant, body))
    return TranslationCheckResponse.model_validate(result.model_dump())


@router.post("/copywriting")
async def write_copy(
    body: CopywritingRequest,
    request: Request,
    pipelines: TextPipelinesDep,
    tenant: TenantDep,
    meter: MeterDep,
) -> CopywritingResponse:
    """Title, selling points, description and video script per language, schema-valid JSON."""
    async with meter.pipeline_tokens():
        result = await unless_disconnected(request, pipelines.write_copy(tenant, body))
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
async def languages(
    pipelines: TextPipelinesDep, _: TenantDep, model: str | None = None
) -> LanguageList:
    """Per language: the chat model's rating, TTS voices and ASR models (see the README)."""
    report = await language_coverage(pipelines.services, model)
    return LanguageList(
        chat_model=report.chat_model,
        thresholds=report.thresholds,
        data=[LanguageObject(**entry.model_dump()) for entry in report.languages],
    )


@router.get("/glossaries")
async def list_glossaries(glossaries: GlossariesDep, tenant: TenantDep) -> GlossaryList:
    records = await glossaries.list_glossaries(tenant)
    return GlossaryList(data=[GlossaryObject.from_record(r) for r in records])


@router.put("/glossaries/{name}")
async def put_glossary(
    name: GlossaryName, body: GlossaryPutRequest, glossaries: GlossariesDep, tenant: TenantDep
) -> GlossaryObject:
    """Create or replace one of your glossaries."""
    check_glossary_name(name)
    entries = parse_entries(body.entries)
    record = await save_glossary(glossaries, tenant, name, entries)
    return GlossaryObject.from_record(record)


@router.get("/glossaries/{name}")
async def get_glossary(
    name: GlossaryName, glossaries: GlossariesDep, tenant: TenantDep
) -> GlossaryObject:
    record = await glossaries.get_glossary(tenant, check_glossary_name(name))
    if record is None:
        raise_not_found(name)
    return GlossaryObject.from_record(record)


@router.delete("/glossaries/{name}")
async def delete_glossary(
    name: GlossaryName, glossaries: GlossariesDep, tenant: TenantDep
) -> GlossaryDeleted:
    deleted = await glossaries.delete_glossary(tenant, check_glossary_name(name))
    if not deleted:
        raise_not_found(name)
    return GlossaryDeleted(name=name, deleted=True)


def raise_not_found(name: str) -> NoReturn:
    raise APIError(404, f"No glossary named '{name}'", param="name", code="glossary_not_found")
