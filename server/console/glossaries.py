"""The tenant's glossaries: list, create, edit and delete, through the functions behind the
/v1/glossaries routes (parse_entries, save_glossary, the store).

A merchant writes the entries one a line, not as JSON:

    Yiwu Star | zh=义乌之星 | de=Yiwu Stern
    AB-1234
    steel cup | case=any

the term, then for each language its one allowed rendering (a term with none stays as it is),
and `case=any` for a term matched in any case. A JSON list (the API's `entries`) is taken too.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from pipelines.errors import Conflict, InvalidInput
from pipelines.platform.jobs.store import GlossaryStore
from pipelines.text.glossary import GlossaryEntry, check_glossary_name, parse_entries, save_glossary
from server.console.pages import is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.routers.text_pipelines import raise_not_found
from server.state import app_services

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
ANY_CASE = "case=any"


class GlossaryForm(BaseModel):
    name: str = ""
    entries: str = ""
    create: bool = False  # the "new glossary" form: an existing name is not replaced


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The entries of the line format (see above), or of a JSON list, for parse_entries."""
    if text.lstrip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"Not valid JSON: {exc}", param="entries", code="invalid_glossary"
            ) from exc
        if not isinstance(loaded, list) or not all(isinstance(e, dict) for e in loaded):
            raise InvalidInput("A JSON list of entries", param="entries", code="invalid_glossary")
        return loaded
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        term, *parts = [part.strip() for part in line.split("|")]
        if not term and not parts:
            continue
        entry: dict[str, Any] = {"term": term, "translations": {}}
        for part in parts:
            language, equals, rendering = part.partition("=")
            if part.replace(" ", "").lower() == ANY_CASE:
                entry["case_sensitive"] = False
            elif not equals:
                raise InvalidInput(
                    f"Line {number}: '{part}' is not language=translation",
                    param=f"line {number}",
                    code="invalid_glossary",
                )
            else:
                entry["translations"][language.strip()] = rendering.strip()
        entries.append(entry)
    return entries


def format_lines(entries: list[GlossaryEntry]) -> str:
    """The entries in the line format, for editing."""
    lines = []
    for entry in entries:
        parts = [entry.term, *(f"{code}={text}" for code, text in entry.translations.items())]
        if not entry.case_sensitive:
            parts.append(ANY_CASE)
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def _store(request: Request) -> GlossaryStore:
    return app_services(request).jobs.services.glossaries


def _done(request: Request, target: str) -> Response:
    """Go to `target`: htmx follows HX-Redirect, a plain form the 303."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _changed(stamp: float) -> tuple[str, str]:
    """When a glossary changed: for <time datetime>, and as shown (the server's local time)."""
    moment = time.localtime(stamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment), time.strftime("%Y-%m-%d %H:%M", moment)


@router.get("/glossaries")
async def glossaries_page(request: Request) -> Response:
    records = await _store(request).list_glossaries(viewer_of(request).tenant)
    rows = [(record, *_changed(record.updated_at)) for record in records]
    return render(request, "glossaries.html", glossaries=rows, form=GlossaryForm(create=True))


@router.get("/glossaries/{name}")
async def glossary_page(request: Request, name: str, saved: bool = False) -> Response:
    record = await _store(request).get_glossary(
        viewer_of(request).tenant, check_glossary_name(name)
    )
    if record is None:
        raise_not_found(name)
    entries = parse_entries(record.entries)
    form = GlossaryForm(name=record.name, entries=format_lines(entries))
    return render(request, "glossary_edit.html", form=form, count=len(entries), saved=saved)


@router.post("/glossaries")
async def save(request: Request, form: Annotated[GlossaryForm, Form()]) -> Response:
    """Create a glossary, or replace the entries of one (PUT /v1/glossaries/{name})."""
    store, tenant = _store(request), viewer_of(request).tenant
    name = check_glossary_name(form.name.strip())
    entries = parse_entries(parse_lines(form.entries))
    if form.create and await store.get_glossary(tenant, name) is not None:
        raise Conflict(f"A glossary named '{name}' exists", param="name", code="glossary_exists")
    await save_glossary(store, tenant, name, entries)
    return _done(request, f"/glossaries/{name}?saved=1")


@router.post("/glossaries/{name}/delete")
async def delete(request: Request, name: str) -> Response:
    """DELETE /v1/glossaries/{name}; an htmx request gets nothing back: its row goes away."""
    if not await _store(request).delete_glossary(
        viewer_of(request).tenant, check_glossary_name(name)
    ):
        raise_not_found(name)
    if is_htmx(request) and request.headers.get("hx-target"):
        return Response("", media_type="text/html")
    return _done(request, "/glossaries")
