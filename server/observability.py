"""Access log without bodies (request id, tenant, route, status, timing) and security headers."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("localshang.access")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # other sites learn nothing; this server's own forms keep their Origin header, which the
    # console checks (under no-referrer a browser sends `Origin: null` with a form post)
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class AccessLog:
    """ASGI middleware. Request and response bodies are never logged: they are merchant data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log.info(
                "request_id=%s tenant=%s method=%s path=%s status=%d ms=%.1f",
                request_id,
                scope["state"].get("tenant", "-"),  # a checked name (or the config's)
                scope["method"],  # an HTTP token: the server refuses anything else
                quoted(scope["path"]),  # percent-decoded: CR, LF, quotes, spaces...
                status,
                (time.perf_counter() - started) * 1000,
            )


def quoted(value: str) -> str:
    """A value the client chose, as a JSON string: in quotes, with CR, LF, quotes and other
    controls escaped, so that it cannot end the line or pass for another field."""
    return json.dumps(value)
