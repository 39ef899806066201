"""Request limits: body size cap (413), a per-model in-flight cap and a per-tenant request rate
(429 with Retry-After), the rate counted in memory or in a Redis that a fleet shares."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import APIError

log = logging.getLogger(__name__)


class BodySizeLimit:
    """ASGI middleware: refuse bodies over the cap, by Content-Length or while streaming them in.

    Multipart uploads get their own, larger cap; everything else the JSON cap. `upload_cap`,
    if given, may lower the upload cap per request (the caller's tenant quota).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_cap: Callable[[Scope], Awaitable[int | None]] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.upload_cap = upload_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        cap = self.max_upload if is_upload else self.max_body
        if is_upload and self.upload_cap is not None:
            cap = min(cap, await self.upload_cap(scope) or cap)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _too_large(cap, send)
            return
        received = 0
        response_started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    exceeded = True
                    raise _BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # the app caught our exception and answers on its own (a form parser's 400):
                # the 413 goes out instead of that answer
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await _too_large(cap, send)
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _too_large(cap, send)


class _BodyTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(f"body over {cap} bytes")


async def _too_large(cap: int, send: Send) -> None:
    response = APIError(
        413, f"Request body too large: the limit is {cap} bytes.", code="request_too_large"
    ).response()
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class InflightGate:
    """Counts requests per model; past the cap new ones get 429 instead of waiting without end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inflight: Counter[str] = Counter()

    @contextmanager
    def enter(self, model_id: str) -> Iterator[None]:
        if self._inflight[model_id] >= self.limit:
            raise APIError(
                429,
                f"Model '{model_id}' has {self.limit} requests in flight, its queue is full. "
                "Retry shortly.",
                code="queue_full",
                retry_after=1,
            )
        self._inflight[model_id] += 1
        try:
            yield
        finally:
            self._inflight[model_id] -= 1


class RateLimiter:
    """Requests per minute per tenant, counted in the storage `storage_url` names: `memory://`
    (this process: each node of a fleet counts its own) or `redis://host:port/db` (one count
    that every node shares).

    Strategy: the `limits` library's moving window, at most N requests in any 60 s, which is
    what "N per minute" reads as; Retry-After is the time until the oldest of them is a minute
    old. Its sliding window counter is cheaper (two counters instead of one entry per request)
    but estimates the previous minute's share, so near a minute's turn it lets through more or
    fewer than N; Redis keeps at most N entries a tenant (a Lua script checks and adds them in
    one step, so nodes racing each other admit exactly N). Entries carry the admitting node's
    clock: a fleet keeps its clocks in step (NTP).

    A storage that cannot be reached fails open: requests go through unlimited and a warning is
    logged (once, then once on recovery), as API gateways do. A merchant whose shop calls us
    should not be refused because a counter is down; the per-tenant job quota, held in the
    database, still caps the expensive work. While down the storage is asked again only every
    `retry_s`, so a dead host does not add a connect timeout to every request.
    """

    def __init__(self, storage_url: str = "memory://", retry_s: float = 5.0) -> None:
        self._pool: ConnectionPool | None = None
        storage: Storage
        if storage_url.startswith("memory://"):
            storage = MemoryStorage()
        else:
            self._pool = ConnectionPool.from_url(
                storage_url, socket_connect_timeout=1.0, socket_timeout=1.0
            )
            storage = RedisStorage(
                f"async+{storage_url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="localshang",
                # documented by limits, though its annotation of options allows scalars only
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        self._windows = MovingWindowRateLimiter(storage)
        self._retry_s = retry_s
        self._down_until: float | None = None  # while unreachable: when to ask it again

    async def admit(self, tenant: str, per_minute: int | None) -> None:
        """Count one request of `tenant`, or APIError 429 with Retry-After past `per_minute`."""
        if per_minute is None:
            return
        if self._down_until is not None and time.monotonic() < self._down_until:
            return
        limit = RateLimitItemPerMinute(per_minute, namespace="requests")
        try:
            admitted = await self._windows.hit(limit, tenant)
            window = None if admitted else await self._windows.get_window_stats(limit, tenant)
        except StorageError as exc:
            if self._down_until is None:
                log.warning("rate limit storage unreachable, requests are not limited: %s", exc)
            self._down_until = time.monotonic() + self._retry_s
            return
        if self._down_until is not None:
            log.warning("rate limit storage reachable again, requests are limited")
            self._down_until = None
        if window is not None:
            wait_s = max(1, math.ceil(window.reset_time - time.time()))
            raise APIError(
                429,
                f"Rate limit reached: {per_minute} requests per minute for your key's tenant. "
                f"Retry in {wait_s} s.",
                code="rate_limit_exceeded",
                retry_after=wait_s,
            )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
