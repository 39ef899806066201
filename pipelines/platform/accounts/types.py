"""Plain records of the accounts store: keys, who a key is, console sessions, usage rows, audit
events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONFIG_KEY_ID = "config"  # the key id of keys listed in the config file (server.api_keys)


@dataclass(frozen=True)
class Account:
    """Who a request is: the tenant of its key, whether it may operate the server, which key."""

    tenant: str
    is_admin: bool
    key_id: str | None  # a database key's id; CONFIG_KEY_ID; None when no keys exist at all

    @property
    def actor(self) -> str:
        """How the audit log names who acted."""
        if self.key_id is None:
            return "local"
        if self.key_id == CONFIG_KEY_ID:
            return f"config:{self.tenant}"
        return f"key:{self.key_id}"


@dataclass(frozen=True)
class KeyRecord:
    """A database API key: only a salted hash of its secret is kept."""

    id: str
    tenant: str
    is_admin: bool
    label: str
    created_at: float
    revoked_at: float | None
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)


@dataclass(frozen=True)
class ConsoleSession:
    """A web console sign-in: the account it acts as, for a browser holding the session's token.

    `id` is the sha256 hex of that token (the store never sees the token itself); `csrf_token`
    is what the console's forms send back, so that another site cannot post with the cookie.
    """

    id: str
    account: Account
    csrf_token: str = field(repr=False)
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class UsageRow:
    tenant: str
    day: str  # UTC date, YYYY-MM-DD
    metric: str
    amount: float


@dataclass(frozen=True)
class AuditEvent:
    action: str  # e.g. "key.created", "job.deleted", "tenant.purged"
    actor: str  # "key:<id>", "config:<tenant>", "local", "cli", "system"
    tenant: str  # whose account or data it touched
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0
    seq: int = 0
