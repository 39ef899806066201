"""Checking an edited translation on the translate page: the checks of POST
/v1/translations/checks (back-translation, facts, meaning, polarity, leftovers, added lines),
shown line by line in the merchant's language, counted and metered like that route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from pipelines.text.faithfulness_schema import TranslationCheckInput
from server.console.pages import is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.console.text import metered, validated
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


class CheckForm(BaseModel):
    source: str = ""
    source_language: str = "auto"
    target_language: str = ""
    translation: str = ""


@router.post("/translate/check")
async def check_translation(request: Request, form: Annotated[CheckForm, Form()]) -> Response:
    """Each line of the edited translation with what it says back and what is wrong with it."""
    body = validated(TranslationCheckInput, form.model_dump())
    tenant = viewer_of(request).tenant
    result = await metered(request, app_services(request).text.check_translation(tenant, body))
    template = "translate_check.html" if is_htmx(request) else "translate_check_page.html"
    return render(request, template, check=result)
