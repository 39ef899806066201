"""Signing in and out, and the language switch.

Signing in takes an API key once and keeps a server-side session in an HttpOnly, SameSite=Strict
cookie; the key itself never reaches the browser again. With no keys configured (a loopback
server) the first visit opens a session of the local admin without asking, if it comes from a
browser on this computer and from this server's own pages or address bar.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from pipelines.platform.accounts.types import Account
from server.console.i18n import LOCALES
from server.console.pages import render
from server.console.routing import (
    LANG_COOKIE,
    SESSION_COOKIE,
    ConsoleRoute,
    PublicRoute,
    safe_next,
)
from server.errors import APIError
from server.request_guard import LOOPBACK_HOSTS, host_name, is_same_origin
from server.state import app_services
from server.tenancy import DEFAULT_TENANT

public = APIRouter(route_class=PublicRoute, include_in_schema=False)
router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
YEAR_S = 365 * 24 * 3600


@public.get("/signin")
async def sign_in_page(
    request: Request, next: str = "/", expired: Annotated[bool, Query()] = False
) -> Response:
    accounts = app_services(request).accounts
    if not await accounts.keys_exist():  # loopback without keys: everyone is the local admin
        _check_local_browser(request)
        return await _open(request, Account(DEFAULT_TENANT, is_admin=True, key_id=None), next)
    return render(request, "signin.html", next=safe_next(next), expired=expired, failed=False)


@public.post("/signin")
async def sign_in(
    request: Request, key: Annotated[str, Form(max_length=512)], next: Annotated[str, Form()] = "/"
) -> Response:
    account = await app_services(request).accounts.authenticate(key.strip())
    if account is None:
        return render(
            request, "signin.html", status=401, next=safe_next(next), expired=False, failed=True
        )
    return await _open(request, account, next)


def _check_local_browser(request: Request) -> None:
    """The local admin's session goes only to a browser on this computer that asked for it on
    this server's own page or address bar: not to a name rebound to 127.0.0.1 that a server
    allows (server.allowed_hosts), nor to a link or page of another site."""
    local = host_name(request.headers.get("host", "")) in LOOPBACK_HOSTS
    if not (local and is_same_origin(request.scope)):
        raise APIError(
            403,
            "Without API keys the console opens only at this computer's own address "
            "(http://localhost:PORT), typed in the address bar or followed from its own pages.",
            code="console_not_local",
        )


async def _open(request: Request, account: Account, next: str) -> Response:
    services = app_services(request)
    ttl = services.settings.tenants.console_session_ttl_s
    token, _ = await services.accounts.open_session(account, ttl_s=ttl)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await app_services(request).accounts.close_session(token)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@public.get("/language/{locale}")
async def switch_language(locale: str, next: str = "/") -> Response:
    """Remember the viewer's language (a plain preference cookie) and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=YEAR_S, samesite="lax")
    return response


@router.get("/")
async def home() -> Response:
    """A merchant comes to dub a video; everything else is one click away in the menu."""
    return RedirectResponse("/dub", status_code=303)
