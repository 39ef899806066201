"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served offline.

FastAPI's default pages load their scripts, styles and favicon from public CDNs: a blank page
without internet, and the operator's browser calling third parties. These pages name only
files shipped in server/static (vendored at pinned versions, see vendor/vendored.json),
served under the `static` mount of the composition root.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

from server.security import page_policy

router = APIRouter(include_in_schema=False)

# ReDoc needs more than the pages' policy: styled-components writes its styles into <style>
# elements, and its search index runs in a worker made from a blob. (It also draws Redocly's
# logo from cdn.redoc.ly, whatever its options; the policy refuses that, and the logo hides.)
REDOC_POLICY = page_policy({"style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:"})

# FastAPI's get_swagger_ui_html starts Swagger UI from an inline script, which a policy of
# scripts from 'self' only refuses; this page starts it from static/docs/swagger-init.js.
SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{favicon}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script src="{init}" data-openapi-url="{openapi}"></script>
</body>
</html>
"""


def _static(request: Request, path: str) -> str:
    """The server-relative URL of a file in server/static (behind a proxy's root path too)."""
    return request.url_for("static", path=path).path


def _openapi_url(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") + (request.app.openapi_url or "")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    urls = {
        "css": _static(request, "vendor/swagger-ui/swagger-ui.css"),
        "favicon": _static(request, "vendor/swagger-ui/favicon-32x32.png"),
        "bundle": _static(request, "vendor/swagger-ui/swagger-ui-bundle.js"),
        "init": _static(request, "docs/swagger-init.js"),
        "openapi": _openapi_url(request),
    }
    title = f"{request.app.title} - Swagger UI"
    fields = {name: escape(value) for name, value in {**urls, "title": title}.items()}
    return HTMLResponse(SWAGGER_PAGE.format(**fields))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_static(request, "vendor/redoc/redoc.standalone.js"),
        redoc_favicon_url=_static(request, "vendor/swagger-ui/favicon-32x32.png"),
        with_google_fonts=False,
    )
    page.headers["Content-Security-Policy"] = REDOC_POLICY
    return page
