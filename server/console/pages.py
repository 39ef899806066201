"""Rendering a console page: one Jinja2 environment per locale (its catalog installed), the
viewer (who looks, in which language, with which CSRF token) in every template's context."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pipelines.platform.accounts.types import Account
from server.console.i18n import LOCALE_NAMES, language_name, translations


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: signed in (an account) or not, in which locale."""

    account: Account | None
    csrf_token: str
    locale: str

    @property
    def tenant(self) -> str:
        assert self.account is not None, "a signed-in page"
        return self.account.tenant

    @property
    def actor(self) -> str:
        """Who acted, as the audit log names it."""
        assert self.account is not None, "a signed-in page"
        return self.account.actor

    @property
    def is_admin(self) -> bool:
        return self.account is not None and self.account.is_admin


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=PackageLoader("server.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["language_name"] = functools.partial(language_name, locale=locale)
    return env


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment, not a whole page)."""
    return request.headers.get("hx-request") == "true"


def viewer_of(request: Request) -> Viewer:
    viewer: Viewer = request.state.viewer  # set by the console's route class
    return viewer


def gettext_for(request: Request) -> Any:
    """`_` in the viewer's language, for messages made in Python (flash lines, errors)."""
    return translations(viewer_of(request).locale).gettext


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The template as a page (or, for an htmx request, the fragment it renders)."""
    viewer = viewer_of(request)
    html = (
        environment(viewer.locale)
        .get_template(template)
        .render(
            viewer=viewer,
            path=request.url.path,
            full_path=str(request.url.path)
            + (f"?{request.url.query}" if request.url.query else ""),
            locales=LOCALE_NAMES,
            htmx=is_htmx(request),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)
