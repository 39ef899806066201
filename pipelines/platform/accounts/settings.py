"""Settings of tenancy: the config's API keys, and the quotas and retention every tenant has."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class ApiKey(BaseModel):
    key: SecretStr
    tenant: str = "default"
    admin: bool = Field(False, description="may use the operator endpoints (/v1/admin/...)")


class TenantQuotas(BaseModel):
    """Limits of one tenant; null means unlimited. Overrides per tenant are kept in the database
    (`localshang keys quota`, PATCH /v1/admin/tenants/{tenant}/quotas)."""

    requests_per_minute: int | None = Field(None, ge=1, description="beyond this, 429")
    concurrent_jobs: int | None = Field(None, ge=1, description="queued + running; beyond, 429")
    max_upload_bytes: int | None = Field(
        None, ge=1, description="one upload (server.max_upload_bytes caps it too); beyond, 413"
    )
    storage_bytes: int | None = Field(None, ge=0, description="artifacts kept; beyond, 403")
    retention_s: float | None = Field(
        30 * 86400.0, gt=0, description="finished jobs (rows, artifacts) and uploads expire after"
    )


class TenantSettings(BaseModel):
    """Quotas and retention every tenant has unless the operator gave it its own."""

    defaults: TenantQuotas = Field(default_factory=TenantQuotas)
    sweep_interval_s: float = Field(300.0, gt=0, description="how often expired data is deleted")
    console_session_ttl_s: float = Field(
        43200.0, gt=0, description="a web console sign-in lasts this long (12 h)"
    )
