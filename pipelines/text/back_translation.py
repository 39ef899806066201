"""Back-translation: what each translated line says in the merchant's own language.

The merchant often reads only Chinese and publishes in languages they cannot read; a second
translation, back into their language, is how they see that the Spanish says "不要犹豫去问".
It goes through the same Translator and guardrails as any translation (so the numbers of the
line survive into what the merchant reads), one generate call per line and attempt.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence

from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput, TranslationItem, TranslationResult

# A second attempt when the first loses a number; beyond that the last candidate is shown
# anyway: the merchant is better served by an imperfect reading than by none.
ATTEMPTS = 2


async def back_translate(
    translator: Translator,
    lines: Sequence[str],
    language: str,
    merchant_language: str,
    seed: int | None,
) -> list[str | None]:
    """Each of `lines` (written in `language`) in `merchant_language`; None where the model
    gave nothing usable."""
    if not lines:
        return []
    if language == merchant_language:
        return await as_written(lines)
    request = TranslationInput(
        text=list(lines),
        source_language=language,
        target_languages=[merchant_language],
        max_attempts=ATTEMPTS,
        temperature=0.0,
        seed=seed,
        on_failure="report",
        back_translate=False,
    )
    result = await translator.translate(request)
    return [_reading(item) for item in result.translations]


def reader(
    translator: Translator, language: str, merchant_language: str, seed: int | None
) -> Callable[[Sequence[str]], Awaitable[list[str | None]]]:
    """What reads lines written in `language` back in `merchant_language`, with `translator`."""
    return functools.partial(
        back_translate,
        translator,
        language=language,
        merchant_language=merchant_language,
        seed=seed,
    )


async def as_written(lines: Sequence[str]) -> list[str | None]:
    """The back-translation of lines written in the merchant's own language: the lines."""
    return list(lines)


def _reading(item: TranslationItem) -> str | None:
    if item.text is not None:
        return item.text
    # a one-segment line that failed its checks still has a candidate worth reading
    if item.segments == 1 and item.failures:
        return item.failures[0].output
    return None


async def with_back_translations(
    translator: Translator, request: TranslationInput, result: TranslationResult
) -> TranslationResult:
    """`result` with each translated item's back_translation, when the request asks for them."""
    if not request.back_translate:
        return result
    items = list(result.translations)
    chosen = {
        target: [n for n, item in enumerate(items) if item.target_language == target and item.text]
        for target in request.targets()
    }
    readings = await asyncio.gather(
        *(
            back_translate(
                translator,
                [items[n].text or "" for n in numbers],
                target,
                request.merchant_language,
                request.seed,
            )
            for target, numbers in chosen.items()
        )
    )
    for numbers, read in zip(chosen.values(), readings, strict=True):
        for n, reading in zip(numbers, read, strict=True):
            items[n] = items[n].model_copy(update={"back_translation": reading})
    return result.model_copy(update={"translations": items})
