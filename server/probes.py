"""Probes of what a node depends on besides itself (its database, a shared Redis), answered as
ok or down with the reason, for /ready and `localshang doctor` alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from redis.asyncio import Redis

# A probe waits no longer than this: a load balancer's health check has its own, short timeout,
# and a dead host must not hold a doctor run for the TCP stack's minutes.
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Probe:
    """One dependency's answer: `error` says why it is down (None when it answered)."""

    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "down"


async def probe(check: Awaitable[object], timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Await `check`: any exception or a timeout is the dependency being down, with its reason
    (the first line: drivers append the failed statement and links below it)."""
    try:
        async with asyncio.timeout(timeout_s):
            await check
    except TimeoutError:
        return Probe(f"no answer within {timeout_s:g} s")
    except Exception as exc:  # whatever the driver raises is the answer, reported, not hidden
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Probe(f"{type(exc).__name__}: {first_line}".rstrip(": "))
    return Probe()


def is_redis(storage_url: str) -> bool:
    """Whether server.rate_limit_storage names a Redis (anything but this process's memory)."""
    return not storage_url.startswith("memory://")


async def ping_redis(url: str) -> None:
    """PING the Redis at `url` on a connection of its own, closed after."""
    client = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        await client.ping()  # type: ignore[misc]  # redis-py types sync and async clients as one
    finally:
        await client.aclose()
