"""API keys `ls-<id>-<secret>`: the id finds the row, the secret is checked against a salted hash.

The secret is 256 random bits, so a fast keyed hash (HMAC-SHA256 with a per-key salt) is as
safe as a slow password hash here, and costs microseconds on every request, not milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_FORMAT = re.compile(r"^ls-([0-9a-f]{12})-([A-Za-z0-9_-]{43})$")


def new_key() -> tuple[str, str, str]:
    """(key id, secret, the whole key to hand out once)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return key_id, secret, f"ls-{key_id}-{secret}"


def parse_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a key in our format, else None."""
    match = KEY_FORMAT.match(token)
    return (match.group(1), match.group(2)) if match else None


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def secret_matches(secret: str, salt: bytes, digest: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), digest)
