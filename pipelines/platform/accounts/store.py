"""The storage interface of keys, console sessions, quota overrides, usage counters and the audit
log."""

from __future__ import annotations

from typing import Any, Protocol

from pipelines.platform.accounts.types import AuditEvent, ConsoleSession, KeyRecord, UsageRow


class AccountStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """A trivial query (readiness probes): raises when the database cannot answer."""

    # --- keys -------------------------------------------------------------------------------
    async def add_key(self, key: KeyRecord) -> None: ...

    async def key(self, key_id: str) -> KeyRecord | None: ...

    async def list_keys(self, tenant: str | None = None) -> list[KeyRecord]:
        """Oldest first; every tenant's when `tenant` is None."""

    async def revoke_keys(
        self, *, key_id: str | None = None, tenant: str | None = None
    ) -> list[str]:
        """Revoke one key, or all of a tenant's; the ids that were revoked now."""

    async def any_keys(self) -> bool:
        """Whether a key was ever created (revoked ones count: auth stays on once it was on)."""

    # --- console sessions -------------------------------------------------------------------
    async def add_session(self, session: ConsoleSession) -> None: ...

    async def session(self, session_id: str) -> ConsoleSession | None:
        """The session of this id, expired or not (the caller decides)."""

    async def delete_session(self, session_id: str) -> None: ...

    async def delete_expired_sessions(self, now: float) -> int:
        """Delete the sessions that expired by `now`; how many there were."""

    # --- quotas -----------------------------------------------------------------------------
    async def quota_overrides(self, tenant: str) -> dict[str, Any]:
        """The quota fields set for this tenant alone ({} when it has the defaults)."""

    async def set_quota_overrides(self, tenant: str, overrides: dict[str, Any]) -> None:
        """Replace the tenant's overrides; {} returns it to the defaults."""

    # --- usage ------------------------------------------------------------------------------
    async def add_usage(self, tenant: str, day: str, amounts: dict[str, float]) -> None: ...

    async def usage(
        self, tenant: str | None = None, start_day: str | None = None, end_day: str | None = None
    ) -> list[UsageRow]:
        """Rows from start_day to end_day (inclusive, YYYY-MM-DD), by tenant and day."""

    # --- audit ------------------------------------------------------------------------------
    async def audit(self, event: AuditEvent) -> None: ...

    async def audit_log(self, tenant: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first."""

    async def tenants(self) -> list[str]:
        """Tenants that have keys, quota overrides or usage."""
