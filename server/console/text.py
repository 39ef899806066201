"""The merchant's text tools: /translate (a text into several languages, with the merchant checks
each translation passed) and /copywriting (a product's listing copy per language).

Both call the service behind POST /v1/translations and /v1/copywriting (TextPipelines) with the
same request models, counted against the tenant's requests-per-minute quota and metered like
those routes. A translation that fails its checks is reported (on_failure "report"), so the page
shows which check failed instead of an error.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from pipelines.chat_model import chat_model_id
from pipelines.coverage import LanguageWarning, ratings_of
from pipelines.errors import InvalidInput
from pipelines.languages import Language, load_languages
from pipelines.platform.jobs.service import validation_message
from pipelines.text.copywriting_schema import CopywritingInput, LanguageCopy
from pipelines.text.presets import load_presets
from pipelines.text.translation_job import resolve_glossary
from pipelines.text.translation_schema import TranslationInput
from server.cancellation import unless_disconnected
from server.console.i18n import N_
from server.console.pages import is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.console.text_checks import TranslationView, translation_views
from server.metering import Meter
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# A page's text is translated in one request; longer texts are split by the merchant, or sent
# as a job through the API.
MAX_TEXT_CHARS = 5000
DEFAULT_TARGETS = ("en",)

# the names of the shipped presets and tones in the viewer's language; others show their config
# label
PRESET_LABELS = {
    "marketplace_listing": N_("Marketplace listing"),
    "social_short_video": N_("Social short video"),
    "b2b_catalogue": N_("B2B catalogue"),
}
TONE_LABELS = {
    "clear": N_("Clear"),
    "energetic": N_("Energetic"),
    "professional": N_("Professional"),
    "luxury": N_("Luxury"),
    "warm": N_("Warm"),
}

# where a request model refuses a form's value -> the code the console explains
_FIELD_CODES = {
    "text": "text_empty",
    "source_language": "unsupported_language",
    "target_languages": "unsupported_language",
    "glossary": "invalid_glossary_name",
    "preset": "unknown_preset",
    "product": "invalid_product",
}


@dataclass(frozen=True)
class LanguageChoice:
    language: Language
    rating: str  # the default chat model's: good, weak or unrated (unusable ones are left out)
    chrf: float | None  # the figure the rating rests on; None: unrated


def language_choices(request: Request) -> list[LanguageChoice]:
    """The languages the default chat model may be asked for, with its rating and figure in
    each (as GET /v1/languages gives them); those measured unusable are left out."""
    services = app_services(request).text.services
    try:
        model_id: str | None = chat_model_id(services.registry, None)
    except InvalidInput:  # no chat model configured: the languages are listed, unrated
        model_id = None
    book = ratings_of(services)
    choices = []
    for lang in load_languages().languages:
        score = book.score(model_id, lang.code) if model_id else None
        if score is None:
            choices.append(LanguageChoice(lang, "unrated", None))
        elif score.rating != "unusable":
            choices.append(LanguageChoice(lang, score.rating, score.figures.chrf))
    return choices


async def metered(request: Request, work: Awaitable[T]) -> T:
    """`work` as the /v1 text routes run it: a request of the tenant's per-minute quota, its
    model tokens metered, stopped if the viewer leaves."""
    services = app_services(request)
    tenant = viewer_of(request).tenant
    quotas = await services.accounts.quotas(tenant)
    await services.rate_limiter.admit(tenant, quotas.requests_per_minute)
    async with Meter(services.accounts, tenant).pipeline_tokens():
        return await unless_disconnected(request, work)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """`model` of a form's values; a refused value becomes an error the console explains."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, where = validation_message(exc, "")
        code = _FIELD_CODES.get(str(exc.errors()[0]["loc"][0]), "invalid_value")
        raise InvalidInput(message, param=where, code=code) from exc


def _targets(chosen: list[str]) -> list[str]:
    if not chosen:
        raise InvalidInput(
            "Choose at least one language", param="target_languages", code="no_target_language"
        )
    return chosen


class TranslateForm(BaseModel):
    text: str = ""
    source_language: str = "auto"
    target_languages: list[str] = []
    glossary: str = ""


class CopyForm(BaseModel):
    name: str = ""
    brand: str = ""
    category: str = ""
    sku: str = ""
    price: str = ""
    materials: str = ""  # lists typed on one line, see _items
    sizes: str = ""
    colours: str = ""
    keywords: str = ""
    features: str = ""  # one a line
    preset: str = "marketplace_listing"
    tone: str = ""
    target_languages: list[str] = []

    def product(self) -> dict[str, Any]:
        """The ProductFacts of the form (the fields left empty left out)."""
        if not self.name.strip():
            raise InvalidInput("The product name is empty", param="name", code="product_name_empty")
        facts = {"name": self.name, "brand": self.brand, "category": self.category}
        facts |= {"sku": self.sku, "price": self.price}
        product: dict[str, Any] = {key: value for key, value in facts.items() if value.strip()}
        for key in ("materials", "sizes", "colours", "keywords"):
            product[key] = _items(getattr(self, key))
        product["features"] = [line.strip() for line in self.features.splitlines() if line.strip()]
        return product


def _items(text: str) -> list[str]:
    """A list typed on one line: separated by commas (ASCII or Chinese) or semicolons."""
    for separator in "，、;；\n":
        text = text.replace(separator, ",")
    return [item.strip() for item in text.split(",") if item.strip()]


# --- /translate -------------------------------------------------------------------------------
@router.get("/translate")
async def translate_page(request: Request, glossary: str = "") -> Response:
    return await _translate_page(request, TranslateForm(glossary=glossary))


@router.post("/translate")
async def translate(request: Request, form: Annotated[TranslateForm, Form()]) -> Response:
    """Translate, then show per language the translation and the checks it passed."""
    if len(form.text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"The text has {len(form.text)} characters; this page takes at most {MAX_TEXT_CHARS}",
            param="text",
            code="text_too_long",
        )
    if not form.text.strip():
        raise InvalidInput("The text is empty", param="text", code="text_empty")
    body = validated(
        TranslationInput,
        {
            "text": form.text,
            "source_language": form.source_language,
            "target_languages": _targets(form.target_languages),
            "glossary": form.glossary or None,
            "on_failure": "report",
        },
    )
    tenant = viewer_of(request).tenant
    pipelines = app_services(request).text
    # inlined here, so that the checks can name the terms it applied (the service then has no
    # name left to resolve)
    body = await resolve_glossary(body, tenant, pipelines.services)
    result = await metered(request, pipelines.translate(tenant, body))
    results = translation_views(result, form.text, body.glossary_entries)
    if is_htmx(request):
        return render(request, "translate_result.html", results=results, form=form)
    return await _translate_page(request, form, results)


async def _translate_page(
    request: Request, form: TranslateForm, results: list[TranslationView] | None = None
) -> Response:
    store = app_services(request).jobs.services.glossaries
    records = await store.list_glossaries(viewer_of(request).tenant)
    return render(
        request,
        "translate.html",
        languages=language_choices(request),
        glossaries=[record.name for record in records],
        form=form,
        targets=form.target_languages or list(DEFAULT_TARGETS),
        results=results or [],
        max_chars=MAX_TEXT_CHARS,
    )


# --- /copywriting -----------------------------------------------------------------------------
@router.get("/copywriting")
async def copywriting_page(request: Request) -> Response:
    return _copy_page(request, CopyForm())


@router.post("/copywriting")
async def write_copy(request: Request, form: Annotated[CopyForm, Form()]) -> Response:
    """Write the product's copy, one card per language."""
    body = validated(
        CopywritingInput,
        {
            "product": form.product(),
            "target_languages": _targets(form.target_languages),
            "preset": form.preset,
            "tone": form.tone or None,
        },
    )
    tenant = viewer_of(request).tenant
    result = await metered(request, app_services(request).text.write_copy(tenant, body))
    catalogue = load_languages()
    cards = [(catalogue.get(copy.language), copy) for copy in result.copies]
    warnings = {warning.language: warning for warning in result.warnings}
    if is_htmx(request):
        return render(request, "copywriting_result.html", cards=cards, warnings=warnings)
    return _copy_page(request, form, cards, warnings)


def _copy_page(
    request: Request,
    form: CopyForm,
    cards: list[tuple[Language, LanguageCopy]] | None = None,
    warnings: dict[str, LanguageWarning] | None = None,
) -> Response:
    book = load_presets()
    return render(
        request,
        "copywriting.html",
        languages=language_choices(request),
        presets=book.presets,
        preset_labels=PRESET_LABELS,
        tones=book.tones,
        tone_labels=TONE_LABELS,
        form=form,
        targets=form.target_languages or list(DEFAULT_TARGETS),
        cards=cards or [],
        warnings=warnings or {},
    )
