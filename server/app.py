"""The application factory: `create_app(settings)` builds a FastAPI app with its own registry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from models.offline import enforce_offline
from models.registry import ModelRegistry
from models.settings import Settings
from pipelines.accounts.service import AccountService
from server.errors import install_error_handlers
from server.limits import BodySizeLimit, InflightGate
from server.observability import AccessLog
from server.routers import (
    account,
    admin,
    chat,
    embeddings,
    health,
    jobs,
    models,
    speech,
    stt,
    text_pipelines,
    video,
)
from server.tenancy import RateLimiter, tenant_upload_cap

log = logging.getLogger(__name__)


def create_app(settings: Settings, registry: ModelRegistry | None = None) -> FastAPI:
    enforce_offline()
    registry = registry or ModelRegistry(settings.models, settings.model_dir, settings.registry)
    accounts = AccountService.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await accounts.open()  # before the routers' lifespans (jobs): they use it
        await registry.preload()
        sweeper = asyncio.create_task(registry.run_idle_sweeper())
        try:
            yield
        finally:
            sweeper.cancel()
            await registry.close()
            await accounts.close()

    app = FastAPI(title="localshang", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.gate = InflightGate(settings.server.max_inflight_per_model)
    app.state.accounts = accounts
    app.state.rate_limiter = RateLimiter()
    install_error_handlers(app)
    # account after jobs: its lifespan (the retention sweeper) needs the job service running
    for module in (
        health,
        models,
        chat,
        embeddings,
        stt,
        speech,
        text_pipelines,
        jobs,
        video,
        account,
        admin,
    ):
        app.include_router(module.router)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        BodySizeLimit,
        max_body_bytes=settings.server.max_body_bytes,
        max_upload_bytes=settings.server.max_upload_bytes,
        upload_cap=tenant_upload_cap,
    )
    app.add_middleware(AccessLog)  # outermost: logs and stamps every response, 413s included
    return app
