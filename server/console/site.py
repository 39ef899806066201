"""The console's page families, included by the composition root (server.app)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from server.console import dub, edit, glossaries, jobs, operator, signin, text, translation_check

ROUTERS: tuple[APIRouter, ...] = (
    signin.public,
    signin.router,
    dub.router,
    jobs.router,
    edit.router,
    text.router,
    translation_check.router,
    glossaries.router,
    operator.router,
)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
