"""Translation and copywriting answered directly (not as jobs), for the HTTP routes and tests.

A direct request is bounded (text.direct_max_generations, text.direct_timeout_s): more work
than that belongs in a job, which survives restarts and reports progress.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from typing import Any, TypeVar

from models.registry import ModelNotFound
from pipelines.chat_model import chat_model_id
from pipelines.coverage import check_languages
from pipelines.errors import InvalidInput, TimedOut
from pipelines.languages import detect_language, load_languages
from pipelines.platform.jobs.context import JobServices
from pipelines.text import back_translation
from pipelines.text.copywriting import Copywriter
from pipelines.text.copywriting_schema import CopywritingInput, CopywritingResult
from pipelines.text.faithfulness import (
    BackTranslate,
    FaithfulnessChecker,
    split_lines,
    split_sentences,
)
from pipelines.text.faithfulness_schema import (
    MAX_CHECK_LINES,
    TranslationCheckInput,
    TranslationCheckResult,
)
from pipelines.text.presets import load_presets
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
        back = back_translation.ATTEMPTS if request.back_translate else 0
        self._check_work(
            len(request.texts()) * len(request.targets()) * (request.max_attempts + back),
            f"{len(request.texts())} texts x {len(request.targets())} languages x "
            f"({request.max_attempts} attempts + {back} to back-translate)",
            "translation",
        )
        model_id = chat_model_id(self.services.registry, request.model)
        warnings = check_languages(
            self.services,
            model_id,
            request.targets(),
            "target_languages",
            request.allow_unusable_languages,
        )
        request = await resolve_glossary(request, tenant, self.services)
        with self.admit(model_id):
            async with self.services.registry.use(model_id, kind="chat") as backend:
                translator = Translator(
                    backend, model_id, max_parallel=self.services.jobs.max_parallel_generations
                )
                result = await self._in_time(self._translated(translator, request), "translation")
        if request.on_failure == "error":
            result.raise_for_failures()
        return result.model_copy(update={"warnings": warnings})

    async def write_copy(self, tenant: str, request: CopywritingInput) -> CopywritingResult:
        targets = request.targets()
        # read back: the title, selling points, description and up to 6 voice-over lines of
        # each language the merchant does not read
        read = [code for code in targets if code != request.merchant_language]
        lines = 2 + load_presets().preset(request.preset).selling_points + 6
        back = back_translation.ATTEMPTS * lines if request.back_translate and read else 0
        self._check_work(
            len(targets) * request.max_attempts + len(read) * back,
            f"{len(targets)} languages x {request.max_attempts} attempts"
            + (f" + {len(read)} x {back} to back-translate" if back else ""),
            "copywriting",
        )
        model_id = chat_model_id(self.services.registry, request.model)
        warnings = check_languages(
            self.services,
            model_id,
            request.targets(),
            "target_languages",
            request.allow_unusable_languages,
        )
        with self.admit(model_id):
            async with self.services.registry.use(model_id, kind="chat") as backend:
                writer = Copywriter(
                    backend,
                    model_id,
                    max_parallel=self.services.jobs.max_parallel_generations,
                )
                result = await self._in_time(writer.write(request), "copywriting")
        return result.model_copy(update={"warnings": warnings})

    async def check_translation(
        self, tenant: str, request: TranslationCheckInput
    ) -> TranslationCheckResult:
        """Faithfulness findings, line by line, for a translation the merchant brings."""
        catalogue = load_languages()
        target = catalogue.get(request.target_language, "target_language")
        merchant = catalogue.get(request.merchant_language, "merchant_language")
        source_code = request.source_language or detect_language(request.source)
        if source_code is None:
            raise InvalidInput(
                "Could not tell the language of 'source'; give source_language",
                param="source_language",
                code="unknown_source_language",
            )
        source = catalogue.get(source_code, "source_language")
        for side in ("source", "translation"):
            if len(split_lines(getattr(request, side))) > MAX_CHECK_LINES:
                raise InvalidInput(
                    f"'{side}' has more than {MAX_CHECK_LINES} lines; check it in parts",
                    param=side,
                    code="too_many_lines",
                )
        request = await resolve_glossary(request, tenant, self.services)
        embedding_id = self._embedding_model_id(request.embedding_model)
        async with AsyncExitStack() as stack:
            embedder = await stack.enter_async_context(
                self.services.registry.use(embedding_id, kind="embedding")
            )
            reader: BackTranslate | None = None
            model_id = None
            if request.back_translate and target.code == merchant.code:
                reader = back_translation.as_written  # no model: the merchant reads it as it is
            elif request.back_translate:
                lines = len(split_sentences(request.translation))
                self._check_work(lines * back_translation.ATTEMPTS, f"{lines} lines", None)
                model_id = chat_model_id(self.services.registry, request.model)
                stack.enter_context(self.admit(model_id))
                backend = await stack.enter_async_context(
                    self.services.registry.use(model_id, kind="chat")
                )
                parallel = self.services.jobs.max_parallel_generations
                reader = back_translation.reader(
                    Translator(backend, model_id, max_parallel=parallel),
                    target.code,
                    merchant.code,
                    request.seed,
                )
            checker = FaithfulnessChecker(
                functools.partial(embedder.embed, input_type="query"),
                reader,
                model=model_id,
                embedding_model=embedding_id,
            )
            return await self._in_time(checker.check(request, source, target, merchant), None)

    @staticmethod
    async def _translated(translator: Translator, request: TranslationInput) -> TranslationResult:
        result = await translator.translate(request)
        return await back_translation.with_back_translations(translator, request, result)

    def _embedding_model_id(self, name: str | None) -> str:
        registry = self.services.registry
        try:
            spec = (
                registry.resolve(name, kind="embedding") if name else registry.default("embedding")
            )
        except ModelNotFound as exc:
            if name is None:
                raise InvalidInput(
                    "The translation checks need an embedding model; none is configured",
                    param="embedding_model",
                    code="model_not_found",
                ) from exc
            raise InvalidInput(str(exc), param="embedding_model", code="model_not_found") from exc
        model_id: str = spec.id
        return model_id

    def _check_work(self, generations: int, breakdown: str, job_type: str | None) -> None:
        """Refuse up front a request whose worst case needs more generate calls than a direct
        request may make."""
        limit = self.services.settings.text.direct_max_generations
        if generations > limit:
            raise InvalidInput(
                f"This request may need up to {generations} generations ({breakdown}); a direct "
                f"request may need at most {limit}. "
                + (
                    "Send fewer texts, languages or max_attempts, or submit it as a job: POST "
                    f"/v1/jobs with type '{job_type}' and this body as its input."
                    if job_type
                    else "Check fewer lines at once, or without back_translate."
                ),
                code="too_much_work",
            )

    async def _in_time(self, work: Awaitable[T], job_type: str | None) -> T:
        budget = self.services.settings.text.direct_timeout_s
        try:
            async with asyncio.timeout(budget):
                return await work
        except TimeoutError:
            raise TimedOut(
                f"The request took longer than the {budget:g} s a direct request may take and "
                "was stopped. "
                + (
                    f"Submit long work as a job: POST /v1/jobs with type '{job_type}'."
                    if job_type
                    else "Check fewer lines at once."
                ),
                code="timeout",
            ) from None
