"""The Content-Security-Policy of every page the server renders (/docs, /redoc, the console).

The policy lets a page load from this server only, so that no page can make the operator's
browser call anyone else; no script runs inline. A page that needs more (ReDoc) says so in its
own header, built by `page_policy`, and the middleware leaves that header as it is.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DIRECTIVES = {
    "default-src": "'self'",
    "img-src": "'self' data:",  # Swagger UI's icons are data: URIs in its stylesheet
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def page_policy(extra: dict[str, str] | None = None) -> str:
    """The policy's header value, with `extra` directives added or replacing the defaults."""
    return "; ".join(f"{name} {value}" for name, value in (DIRECTIVES | (extra or {})).items())


CONTENT_SECURITY_POLICY = page_policy()


class ContentSecurityPolicy:
    """ASGI middleware: stamps `policy` on each HTML response that does not carry one already."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_page = headers.get("content-type", "").startswith("text/html")
                if is_page and "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = self.policy
            await send(message)

        await self.app(scope, receive, send_with_policy)
