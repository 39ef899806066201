"""Helpers for console tests: sign a test client in, and find the page's CSRF token."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'data-csrf="([^"]*)"')


def csrf_of(page: str) -> str:
    """The CSRF token a page carries (on <body data-csrf>), for the client's next POST."""
    found = _CSRF.search(page)
    assert found and found.group(1), "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str | None = None, page: str = "/") -> str:
    """Sign `client` in (with `key`, or as the local admin when no keys exist) and open `page`;
    the CSRF token that page carries. The session cookie stays in the client's cookie jar: send
    the token as X-CSRF-Token with each POST."""
    if key is None:
        opened = await client.get("/signin", params={"next": page})
    else:
        opened = await client.post("/signin", data={"key": key, "next": page})
    assert opened.status_code == 303, opened.text
    assert "localshang_session" in client.cookies, opened.headers
    landed = await client.get(opened.headers["location"], follow_redirects=True)
    assert landed.status_code == 200, landed.text
    return csrf_of(landed.text)
