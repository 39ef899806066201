"""Translation and copywriting answered directly (not as jobs), for the HTTP routes and tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pipelines.chat_model import chat_model_id, is_reasoning_model
from pipelines.coverage import check_languages
from pipelines.platform.jobs.context import JobServices
from pipelines.text.copywriting import Copywriter
from pipelines.text.copywriting_schema import CopywritingInput, CopywritingResult
from pipelines.text.translate import Translator
from pipelines.text.translation_job import resolve_glossary
from pipelines.text.translation_schema import TranslationInput, TranslationResult

Admission = Callable[[str], AbstractContextManager[Any]]


class TextPipelines:
    """`admit(model_id)` may refuse work when a model is saturated (the server's 429 gate)."""

    def __init__(self, services: JobServices, admit: Admission | None = None) -> None:
        self.services = services
        self.admit: Admission = admit or (lambda _: nullcontext())

    async def translate(self, tenant: str, request: TranslationInput) -> TranslationResult:
        model_id = chat_model_id(self.services.registry, request.model)
        warnings = check_languages(self.services, model_id, request.targets(), "target_languages")
        request = await resolve_glossary(request, tenant, self.services)
        with self.admit(model_id):
            async with self.services.registry.use(model_id, kind="chat") as backend:
                translator = Translator(
                    backend, model_id, max_parallel=self.services.jobs.max_parallel_generations
                )
                result = await translator.translate(request)
        if request.on_failure == "error":
            result.raise_for_failures()
        return result.model_copy(update={"warnings": warnings})

    async def write_copy(self, tenant: str, request: CopywritingInput) -> CopywritingResult:
        model_id = chat_model_id(self.services.registry, request.model)
        warnings = check_languages(self.services, model_id, request.targets(), "target_languages")
        with self.admit(model_id):
            async with self.services.registry.use(model_id, kind="chat") as backend:
                writer = Copywriter(
                    backend,
                    model_id,
                    max_parallel=self.services.jobs.max_parallel_generations,
                    reasoning=is_reasoning_model(self.services.registry, model_id),
                )
                result = await writer.write(request)
        return result.model_copy(update={"warnings": warnings})
