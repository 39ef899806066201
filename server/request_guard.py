"""Host and Origin checks: a page of another site never reaches the API or the console.

The browser that runs the console also visits other sites, and two ways lead from them to a
server on the merchant's own PC. DNS rebinding: the attacker's name is made to resolve to
127.0.0.1, so its page is "same-origin" with the server but sends its own name as Host. A
cross-site request: a hidden form or a fetch() whose Origin is the other site. So the Host must
be a name this server answers to, and a request that a page of another origin sent (its Origin
header, or for an unsafe method the Referer) is refused before any route runs. Curl and the
SDKs send no Origin and are not affected; the allowed origins are `server.cors_origins`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import APIError, as_api_error

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Load balancers probe a node by its own address; the probes answer no tenant's data
PROBES = frozenset({"/health", "/ready"})


def host_name(host: str) -> str:
    """The name of a Host header, without its port: `[::1]:8000` -> `[::1]`."""
    host = host.strip().lower()
    if host.startswith("[") and "]" in host:
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def own_origin(scope: Scope) -> str:
    """The origin the request was sent to: its scheme (X-Forwarded-Proto behind a trusted
    proxy) and its Host."""
    return f"{scope['scheme']}://{Headers(scope=scope).get('host', '')}".lower()


def sender_origin(scope: Scope) -> str | None:
    """The origin of the page that sent the request, where a browser says so: its Origin
    header; for an unsafe method without one, the origin of its Referer."""
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is None and scope["method"] in UNSAFE_METHODS and headers.get("referer"):
        parts = urlsplit(headers["referer"])
        origin = f"{parts.scheme}://{parts.netloc}"
    return None if origin is None else origin.strip().rstrip("/").lower()


def is_same_origin(scope: Scope) -> bool:
    """Whether a browser sent this from a page of this server (or from its address bar); a
    request no browser sent (no Origin, no Sec-Fetch-Site) counts as same-origin."""
    fetch_site = Headers(scope=scope).get("sec-fetch-site")
    sender = sender_origin(scope)
    return fetch_site in (None, "same-origin", "none") and sender in (None, own_origin(scope))


class RequestGuard:
    """ASGI middleware: 421 for a Host this server does not answer to, 403 for a request from
    a page of another origin.

    Loopback names and `allowed_hosts` are always answered; other names only when API keys
    exist (`keys_exist`) and no `allowed_hosts` are configured, since a key is then what
    protects the data, and a fleet's operator may not know every name it is reached by.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys_exist: Callable[[], Awaitable[bool]],
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.keys_exist = keys_exist
        self.allowed_hosts = frozenset(host_name(host) for host in allowed_hosts)
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await self.check(scope)
            except Exception as exc:
                error = as_api_error(exc)
                if error is None:
                    raise
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> None:
        host = Headers(scope=scope).get("host", "")
        if scope["path"] not in PROBES and not await self._answers(host_name(host)):
            raise APIError(
                421,
                f"This server does not answer to the host '{host}': it answers to localhost, "
                "127.0.0.1 and [::1], and to the names listed in server.allowed_hosts "
                "(LOCALSHANG_SERVER__ALLOWED_HOSTS).",
                code="host_not_allowed",
            )
        sender = sender_origin(scope)
        if sender is not None and not self._trusts(sender, scope):
            raise APIError(
                403,
                f"This request was sent by a page of another site ('{sender}') and was "
                "refused. Origins whose pages may call this server are listed in "
                f"server.cors_origins.{_proxy_hint(sender, scope)}",
                code="cross_site_request",
            )

    async def _answers(self, name: str) -> bool:
        if name in LOOPBACK_HOSTS or name in self.allowed_hosts:
            return True
        return not self.allowed_hosts and await self.keys_exist()

    def _trusts(self, sender: str, scope: Scope) -> bool:
        return (
            sender == own_origin(scope)
            or sender in self.allowed_origins
            or "*" in self.allowed_origins
        )


def _proxy_hint(sender: str, scope: Scope) -> str:
    """A page of this very host under another scheme: most likely this server's own page
    behind a TLS proxy whose X-Forwarded-Proto is not believed (or not sent)."""
    if urlsplit(sender).netloc != urlsplit(own_origin(scope)).netloc:
        return ""
    return (
        f" The page is this host's, over {urlsplit(sender).scheme}: behind a proxy that "
        "terminates TLS, have it send X-Forwarded-Proto and list its address in "
        "server.forwarded_allow_ips."
    )
