"""Request limits: body size cap (413), a per-model in-flight cap and a per-tenant request rate
(429 with Retry-After)."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import APIError


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
    """A token bucket per tenant: `per_minute` requests a minute on average, bursts up to that
    many. In memory: each server process of a fleet counts its own requests."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)

    def admit(self, tenant: str, per_minute: int | None) -> None:
        if per_minute is None:
            return
        now = time.monotonic()
        tokens, at = self._buckets.get(tenant, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[tenant] = (tokens, now)
            wait_s = (1.0 - tokens) * 60.0 / per_minute
            raise APIError(
                429,
                f"Rate limit reached: {per_minute} requests per minute for your key's tenant. "
                f"Retry in {math.ceil(wait_s)} s.",
                code="rate_limit_exceeded",
                retry_after=max(1, math.ceil(wait_s)),
            )
        self._buckets[tenant] = (tokens - 1.0, now)
