"""Translation and copywriting answered directly (not as jobs), for the HTTP routes and tests.

A direct request is bounded (text.direct_max_generations, text.direct_timeout_s): more work
than that belongs in a job, which survives restarts and reports progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from pipelines.chat_model import chat_model_id, is_reasoning_model
from pipelines.coverage import check_languages
from pipelines.errors import InvalidInput, TimedOut
from pipelines.platform.jobs.context import JobServices
from pipelines.text.copywriting import Copywriter
from pipelines.text.copywriting_schema import CopywritingInput, CopywritingResult
from pipelines.text.translate import Translator
from pipelines.text.translation_job import resolve_glossary
from pipelines.text.translation_schema import TranslationInput, TranslationResult

Admission = Callable[[str], AbstractContextManager[Any]]
T = TypeVar("T")


class TextPipelines:
    """`admit(model_id)` may refuse work when a model is saturated (the server's 429 gate)."""

    def __init__(self, services: JobServices, admit: Admission | None = None) -> None:
        self.services = services
        self.admit: Admission = admit or (lambda _: nullcontext())

    async def translate(self, tenant: str, request: TranslationInput) -> TranslationResult:
        self._check_work(
            len(request.texts()) * len(request.targets()) * request.max_attempts,
            f"{len(request.texts())} texts x {len(request.targets())} languages x "
            f"{request.max_attempts} attempts",
            "translation",
        )
        model_id = chat_model_id(self.services.registry, request.model)
        warnings = check_languages(self.services, model_id, request.targets(), "target_languages")
        request = await resolve_glossary(request, tenant, self.services)
        with self.admit(model_id):
            async with self.services.registry.use(model_id, kind="chat") as backend:
                translator = Translator(
                    backend, model_id, max_parallel=self.services.jobs.max_parallel_generations
                )
                result = await self._in_time(translator.translate(request), "translation")
        if request.on_failure == "error":
            result.raise_for_failures()
        return result.model_copy(update={"warnings": warnings})

    async def write_copy(self, tenant: str, request: CopywritingInput) -> CopywritingResult:
        self._check_work(
            len(request.targets()) * request.max_attempts,
            f"{len(request.targets())} languages x {request.max_attempts} attempts",
            "copywriting",
        )
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
                result = await self._in_time(writer.write(request), "copywriting")
        return result.model_copy(update={"warnings": warnings})

    def _check_work(self, generations: int, breakdown: str, job_type: str) -> None:
        """Refuse up front a request whose worst case needs more generate calls than a direct
        request may make."""
        limit = self.services.settings.text.direct_max_generations
        if generations > limit:
            raise InvalidInput(
                f"This request may need up to {generations} generations ({breakdown}); a direct "
                f"request may need at most {limit}. Send fewer texts, languages or max_attempts, "
                f"or submit it as a job: POST /v1/jobs with type '{job_type}' and this body as "
                "its input.",
                code="too_much_work",
            )

    async def _in_time(self, work: Awaitable[T], job_type: str) -> T:
        budget = self.services.settings.text.direct_timeout_s
        try:
            async with asyncio.timeout(budget):
                return await work
        except TimeoutError:
            raise TimedOut(
                f"The request took longer than the {budget:g} s a direct request may take and "
                f"was stopped. Submit long work as a job: POST /v1/jobs with type '{job_type}'.",
                code="timeout",
            ) from None
