"""Schemas of the tenancy endpoints (/v1/usage, /v1/purge, /v1/admin/...): localshang extensions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from pipelines.errors import InvalidInput
from pipelines.platform.accounts.retention import Erased
from pipelines.platform.accounts.service import TENANT_NAME
from pipelines.platform.accounts.settings import TenantQuotas
from pipelines.platform.accounts.types import AuditEvent, KeyRecord, UsageRow


class UsageTotals(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    audio_seconds_transcribed: float = 0.0
    audio_seconds_synthesized: float = 0.0
    video_seconds_dubbed: float = 0.0
    jobs_created: int = 0

    @classmethod
    def of(cls, rows: Iterable[UsageRow], **extra: Any) -> Self:
        sums: dict[str, float] = defaultdict(float)
        for row in rows:
            sums[row.metric] += row.amount
        sums["total_tokens"] = sums["prompt_tokens"] + sums["completion_tokens"]
        known = {name: round(value, 3) for name, value in sums.items() if name in cls.model_fields}
        return cls(**known, **extra)


class UsageDay(UsageTotals):
    date: str = Field(description="UTC day, YYYY-MM-DD")


class Usage(BaseModel):
    object: Literal["usage"] = "usage"
    tenant: str
    start_date: str | None
    end_date: str | None
    totals: UsageTotals
    daily: list[UsageDay]
    storage_bytes: int = Field(description="artifacts kept now")
    quotas: TenantQuotas

    @classmethod
    def of(
        cls,
        tenant: str,
        rows: list[UsageRow],
        start: str | None,
        end: str | None,
        storage_bytes: int,
        quotas: TenantQuotas,
    ) -> Usage:
        by_day: dict[str, list[UsageRow]] = defaultdict(list)
        for row in rows:
            by_day[row.day].append(row)
        return cls(
            tenant=tenant,
            start_date=start,
            end_date=end,
            totals=UsageTotals.of(rows),
            daily=[UsageDay.of(day_rows, date=day) for day, day_rows in sorted(by_day.items())],
            storage_bytes=storage_bytes,
            quotas=quotas,
        )


class UsageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Usage]


class QuotasUpdate(BaseModel):
    """The quotas to set for one tenant; a field sent as null means unlimited, a field left out
    keeps its current value."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(None, ge=1)
    concurrent_jobs: int | None = Field(None, ge=1)
    max_upload_bytes: int | None = Field(None, ge=1)
    storage_bytes: int | None = Field(None, ge=0)
    retention_s: float | None = Field(None, gt=0)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TenantQuotasObject(BaseModel):
    object: Literal["tenant.quotas"] = "tenant.quotas"
    tenant: str
    quotas: TenantQuotas = Field(description="in force: the defaults with the overrides")
    overrides: dict[str, Any] = Field(description="what was set for this tenant alone")


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(
        description="1-64 letters, digits, '.', '_' or '-'",
        json_schema_extra={"pattern": TENANT_NAME.pattern},
    )
    admin: bool = False
    label: str = Field("", max_length=200)


class KeyObject(BaseModel):
    object: Literal["api_key"] = "api_key"
    id: str
    tenant: str
    admin: bool
    label: str
    created_at: int
    revoked_at: int | None
    key: str | None = Field(None, description="the key itself: in the creation answer only")

    @classmethod
    def from_record(cls, record: KeyRecord, key: str | None = None) -> KeyObject:
        return cls(
            id=record.id,
            tenant=record.tenant,
            admin=record.is_admin,
            label=record.label,
            created_at=int(record.created_at),
            revoked_at=int(record.revoked_at) if record.revoked_at is not None else None,
            key=key,
        )


class KeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[KeyObject]


class KeysRevoked(BaseModel):
    object: Literal["api_key.revoked"] = "api_key.revoked"
    revoked: list[str]


class AuditEntry(BaseModel):
    object: Literal["audit_event"] = "audit_event"
    seq: int
    at: float
    actor: str
    tenant: str
    action: str
    target: str | None
    details: dict[str, Any]

    @classmethod
    def from_event(cls, event: AuditEvent) -> AuditEntry:
        return cls(
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            tenant=event.tenant,
            action=event.action,
            target=event.target,
            details=event.details,
        )


class AuditList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEntry]


class PurgeRequest(BaseModel):
    """A purge names the tenant it deletes, so that nothing deletes a tenant's data by a bare
    POST (a form on another site, a stray retry): a JSON body, `{"tenant": "shop-a"}`."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(description="the name of the tenant whose data is deleted, to confirm")

    def confirm(self, tenant: str) -> None:
        if self.tenant != tenant:
            raise InvalidInput(
                f"This purge deletes the data of the tenant '{tenant}': to confirm, the JSON "
                f"body names it as tenant (it names '{self.tenant}').",
                param="tenant",
                code="purge_not_confirmed",
            )


class PurgeResult(BaseModel):
    object: Literal["tenant.purge"] = "tenant.purge"
    tenant: str
    jobs_deleted: int
    uploads_deleted: int
    glossaries_deleted: int

    @classmethod
    def of(cls, erased: Erased) -> Self:
        return cls(
            tenant=erased.tenant,
            jobs_deleted=len(erased.jobs),
            uploads_deleted=len(erased.uploads),
            glossaries_deleted=erased.glossaries,
        )


class TenantSummary(BaseModel):
    object: Literal["tenant"] = "tenant"
    tenant: str
    active_keys: int
    storage_bytes: int
    quotas: TenantQuotas


class TenantList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TenantSummary]


class SweepResult(BaseModel):
    object: Literal["retention.sweep"] = "retention.sweep"
    jobs_deleted: dict[str, list[str]] = Field(description="tenant -> ids of expired jobs")
    uploads_deleted: dict[str, int]
