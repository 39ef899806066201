"""The operator's pages (admin accounts only): health and models, tenants with their keys and
quotas, usage per tenant and day, the audit log.

They call the services the /v1/admin routes call (their shared functions live in
server.routers.admin and .health), acting as the signed-in operator's key, so the audit log
names who did what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from pipelines.errors import InvalidInput
from pipelines.platform.accounts.types import KeyRecord
from server.console.i18n import N_
from server.console.pages import Viewer, gettext_for, is_htmx, render, viewer_of
from server.console.routing import ConsoleRoute
from server.console.usage_chart import (
    CHART_METRICS,
    daily_amounts,
    days_between,
    format_amount,
    series_class,
    tenants_of,
    usage_chart,
)
from server.errors import APIError
from server.routers.admin import TenantPath, known_tenants, revoke_key_by_id, tenant_quotas
from server.routers.health import missing_weights
from server.schemas.accounts import QuotasUpdate
from server.state import app_services


def operator_only(request: Request) -> Viewer:
    """Every operator page's first check: a tenant's session gets the 403 page, nothing else."""
    viewer = viewer_of(request)
    if not viewer.is_admin:
        raise APIError(403, "This page is for operators.", code="admin_required")
    return viewer


Operator = Annotated[Viewer, Depends(operator_only)]
router = APIRouter(
    prefix="/operator",
    route_class=ConsoleRoute,
    include_in_schema=False,
    dependencies=[Depends(operator_only)],
)

QUOTA_LABELS = {
    "requests_per_minute": N_("Requests per minute"),
    "concurrent_jobs": N_("Jobs at once (queued and running)"),
    "max_upload_bytes": N_("Largest upload (bytes)"),
    "storage_bytes": N_("Storage for results (bytes)"),
    "retention_s": N_("Keep finished jobs for (seconds)"),
}
DEFAULT_PERIOD_DAYS = 14
MAX_PERIOD_DAYS = 366


def when(timestamp: float | None) -> str:
    """A time as the operator pages show it: UTC, to the second."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class TenantView:
    """One tenant as the tenants page lists it."""

    name: str
    keys: list[KeyRecord]
    storage_bytes: int
    overrides: dict[str, Any]

    @property
    def active_keys(self) -> int:
        return sum(1 for key in self.keys if key.revoked_at is None)


@router.get("")
async def overview(request: Request) -> Response:
    services = app_services(request)
    registry = services.registry
    return render(
        request,
        "operator.html",
        missing=missing_weights(registry),
        models=[
            {
                "spec": spec,
                "loaded": registry.is_loaded(spec.id),
                "weights": not spec.path or registry.path_of(spec).exists(),
            }
            for spec in registry.specs()
        ],
        loaded_gb=registry.loaded_memory_gb(),
        budget_gb=services.settings.registry.memory_budget_gb,
        tenant_count=len(await known_tenants(services.accounts, services.jobs)),
        active_keys=sum(1 for k in await services.accounts.list_keys() if k.revoked_at is None),
        config_keys=len(services.accounts.config_keys),
    )


async def _tenant_views(request: Request) -> list[TenantView]:
    services = app_services(request)
    accounts = services.accounts
    keys = sorted(await accounts.list_keys(), key=lambda k: k.created_at, reverse=True)
    return [
        TenantView(
            name=tenant,
            keys=[key for key in keys if key.tenant == tenant],
            storage_bytes=await services.jobs.store.storage_bytes(tenant),
            overrides=await accounts.quota_overrides(tenant),
        )
        for tenant in await known_tenants(accounts, services.jobs)
    ]


@router.get("/tenants")
async def tenants_page(request: Request) -> Response:
    return render(
        request,
        "operator_tenants.html",
        tenants=await _tenant_views(request),
        config_keys=len(app_services(request).accounts.config_keys),
        when=when,
    )


@router.post("/keys")
async def create_key(
    request: Request,
    viewer: Operator,
    tenant: Annotated[str, Form(max_length=64)],
    label: Annotated[str, Form(max_length=200)] = "",
    admin: Annotated[bool, Form()] = False,
) -> Response:
    """A new key, shown in this answer only (never again: only its salted hash is kept)."""
    assert viewer.account is not None
    record, key = await app_services(request).accounts.create_key(
        tenant.strip(), actor=viewer.account.actor, admin=admin, label=label.strip()
    )
    htmx = is_htmx(request)
    response = render(
        request,
        "operator_key_created_fragment.html" if htmx else "operator_key_created.html",
        record=record,
        key=key,
        tenants=await _tenant_views(request) if htmx else [],
        when=when,
    )
    response.headers["Cache-Control"] = "no-store"  # the back button must not show it again
    return response


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, viewer: Operator, key_id: str) -> Response:
    """Revoke a key: its API calls and its console sessions stop at once."""
    assert viewer.account is not None
    await revoke_key_by_id(app_services(request).accounts, key_id, viewer.account.actor)
    if not is_htmx(request):
        return RedirectResponse("/operator/tenants", status_code=303)
    return render(
        request,
        "operator_tenants_list.html",
        tenants=await _tenant_views(request),
        when=when,
        oob=False,
    )


@router.get("/tenants/{tenant}/quotas")
async def quotas_page(request: Request, tenant: TenantPath, saved: bool = False) -> Response:
    accounts = app_services(request).accounts
    current = await tenant_quotas(accounts, tenant)
    fields = [
        {
            "name": name,
            "label": label,
            "default": getattr(accounts.defaults, name),
            "overridden": name in current.overrides,
            "value": current.overrides.get(name),
        }
        for name, label in QUOTA_LABELS.items()
    ]
    return render(
        request,
        "operator_quotas.html",
        tenant=tenant,
        fields=fields,
        quotas=current.quotas,
        saved=saved,
    )


@router.post("/tenants/{tenant}/quotas")
async def save_quotas(request: Request, viewer: Operator, tenant: TenantPath) -> Response:
    """The form is the tenant's whole set of overrides: a number overrides the default,
    'unlimited' sets none, an empty field keeps the default."""
    assert viewer.account is not None
    form = await request.form()
    unlimited = set(form.getlist("unlimited"))
    changes: dict[str, Any] = {}
    for name in QUOTA_LABELS:
        value = str(form.get(name) or "").strip()
        if value:
            changes[name] = value
        elif name in unlimited:
            changes[name] = None
    try:
        update = QuotasUpdate.model_validate(changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else None
        raise InvalidInput(
            f"Invalid quota '{param}': {first['msg']}", param=param, code="invalid_quota"
        ) from exc
    await app_services(request).accounts.set_quotas(
        tenant, update.changes(), actor=viewer.account.actor, reset=True
    )
    target = f"/operator/tenants/{tenant}/quotas?saved=true"
    if is_htmx(request):
        return Response(headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


ChartMetric = Literal["tokens", "audio_seconds", "video_seconds", "jobs"]


@router.get("/usage")
async def usage_page(
    request: Request,
    start: date | None = None,
    end: date | None = None,
    metric: ChartMetric = "tokens",
) -> Response:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end or (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(
            f"Choose a period of 1 to {MAX_PERIOD_DAYS} days, its start before its end.",
            param="start",
            code="invalid_period",
        )
    rows = await app_services(request).accounts.usage(None, start.isoformat(), end.isoformat())
    days = days_between(start, end)
    amounts = daily_amounts(rows, days, metric)
    label = gettext_for(request)(CHART_METRICS[metric][0])
    return render(
        request,
        "operator_usage.html",
        start=start.isoformat(),
        end=end.isoformat(),
        metric=metric,
        metrics={key: text for key, (text, _) in CHART_METRICS.items()},
        days=days,
        tenants=tenants_of(rows),
        amounts=amounts,
        chart=Markup(usage_chart(rows, days, metric, label=label)),  # escaped by usage_chart
        amount=format_amount,
        series_class=series_class,
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    tenant: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    services = app_services(request)
    events = await services.accounts.audit_log(tenant or None, limit)
    return render(
        request,
        "operator_audit.html",
        events=events,
        tenant=tenant,
        limit=limit,
        tenants=await known_tenants(services.accounts, services.jobs),
        when=when,
        details=lambda event: json.dumps(event.details, ensure_ascii=False, sort_keys=True),
    )
