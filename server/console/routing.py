"""The console's route class: every page request gets its viewer (session, locale), signed-in
pages send the signed-out to /signin, unsafe requests must carry the session's CSRF token (that
they come from this origin, server.request_guard sees to), and errors become pages in the
viewer's language.

Errors are mapped by the API's one table (server.errors.as_api_error); the console only says the
same thing as a page, in the viewer's language where the catalog knows the error's code.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from server.console.i18n import choose_locale
from server.console.messages import error_message
from server.console.pages import Viewer, is_htmx, render
from server.errors import APIError, as_api_error
from server.request_guard import UNSAFE_METHODS
from server.state import app_services

log = logging.getLogger(__name__)

SESSION_COOKIE = "localshang_session"
LANG_COOKIE = "localshang_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """Raised for a page that needs a session the request does not have."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign in")
        self.expired = expired


class ConsoleRoute(APIRoute):
    """A page that needs a signed-in viewer (see PublicRoute for one that does not)."""

    signed_in = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                await self._admit(request)
                return await endpoint(request)
            except SignInRequired as exc:
                return _to_sign_in(request, exc.expired)
            except Exception as exc:
                error = as_api_error(exc)
                if error is None:
                    raise
                if error.status >= 500:
                    log.warning("console %s: %s", request.url.path, error.message)
                return error_page(request, error)

        return handle

    async def _admit(self, request: Request) -> None:
        accounts = app_services(request).accounts
        token = request.cookies.get(SESSION_COOKIE)
        session = await accounts.session(token) if token else None
        locale = choose_locale(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        account = session.account if session else None
        request.state.viewer = Viewer(account, session.csrf_token if session else "", locale)
        if account is not None:
            request.state.tenant = account.tenant  # for the access log
        if self.signed_in and session is None:
            raise SignInRequired(expired=token is not None)
        if self.signed_in and request.method in UNSAFE_METHODS:
            assert session is not None
            await _check_csrf(request, session.csrf_token)


class PublicRoute(ConsoleRoute):
    """A page anyone may open: sign-in, the language switch."""

    signed_in = False


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise APIError(
            403, "This page is out of date: reload it and try again.", code="csrf_failed"
        )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this server only (never //host or a URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _to_sign_in(request: Request, expired: bool) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or is_htmx(request):
        here = request.headers.get("hx-current-url") or "/"
        here = urlsplit(here).path or "/"
    target = f"/signin?next={quote(safe_next(here))}" + ("&expired=1" if expired else "")
    if is_htmx(request):  # htmx follows this header, not a 303
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def error_page(request: Request, error: APIError) -> Response:
    """The error as a page, or as a fragment in place of what an htmx request asked for."""
    fragment = is_htmx(request)
    return render(
        request,
        "error_fragment.html" if fragment else "error.html",
        status=error.status,
        status_code=error.status,
        message=error_message(request, error),
        code=error.code,
        param=error.param,
    )
