"""Who is calling: the bearer key resolved to a Tenant (name, admin role, quotas), the tenant's
requests-per-minute limit, and its upload cap for the body-size middleware.

With no key anywhere (config or database) everyone is the tenant "default", with the admin role:
the server then only binds loopback addresses (see `localshang serve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import Scope

from pipelines.errors import Unavailable
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.accounts.settings import TenantQuotas
from pipelines.platform.accounts.types import Account
from server.errors import APIError
from server.state import app_services

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Tenant:
    name: str
    is_admin: bool
    quotas: TenantQuotas
    actor: str  # who acted, as the audit log names it: "key:<id>", "config:<tenant>", "local"


async def resolve_account(accounts: AccountService, authorization: str | None) -> Account:
    """The account of an `Authorization: Bearer ...` header, or APIError 401."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if token:
        account = await accounts.authenticate(token)
        if account is not None:
            return account
    if not await accounts.keys_exist():
        return Account(DEFAULT_TENANT, is_admin=True, key_id=None)
    if not token:
        raise APIError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")


async def get_caller(request: Request) -> Tenant:
    """The calling tenant; counts the request against its requests-per-minute quota."""
    services = app_services(request)
    accounts = services.accounts
    # the upload cap middleware may have resolved it already (multipart requests)
    account = getattr(request.state, "account", None)
    if not isinstance(account, Account):
        account = await resolve_account(accounts, request.headers.get("authorization"))
    request.state.tenant = account.tenant  # for the access log
    quotas = await accounts.quotas(account.tenant)
    await services.rate_limiter.admit(account.tenant, quotas.requests_per_minute)
    return Tenant(account.tenant, account.is_admin, quotas, account.actor)


CallerDep = Annotated[Tenant, Depends(get_caller)]


async def require_admin(caller: CallerDep) -> Tenant:
    if not caller.is_admin:
        raise APIError(403, "This endpoint needs an admin key.", code="admin_required")
    return caller


AdminDep = Annotated[Tenant, Depends(require_admin)]


async def tenant_upload_cap(scope: Scope) -> int | None:
    """The caller's `max_upload_bytes`, for BodySizeLimit to apply before the body is read.

    None when there is no cap, or the key is not valid (the route then answers 401).
    """
    accounts = scope["app"].state.services.accounts
    try:
        account = await resolve_account(accounts, Headers(scope=scope).get("authorization"))
    except (APIError, Unavailable):  # the route answers it, with the rest of the request's checks
        return None
    state = scope.setdefault("state", {})
    state["account"] = account
    state["tenant"] = account.tenant  # for the access log, should the upload be refused here
    return (await accounts.quotas(account.tenant)).max_upload_bytes
