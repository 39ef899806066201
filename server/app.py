"""The composition root: `create_app(settings)` builds every service once, in the order they
depend on each other; the app's lifespan starts them in that order and stops them in reverse.

Routes get the services through server.deps; nothing else builds or starts one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from models.offline import enforce_offline
from models.registry import ModelRegistry
from pipelines.catalogue import job_types
from pipelines.platform.accounts.retention import Retention, sweeping
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.jobs.job_type import JobType
from pipelines.platform.jobs.service import JobService
from pipelines.platform.storage.stores import stores_for
from pipelines.platform.uploads import clear_unfinished_uploads
from pipelines.settings import Settings
from pipelines.text.service import TextPipelines
from server.console import site as console
from server.errors import install_error_handlers
from server.limits import BodySizeLimit, InflightGate, RateLimiter
from server.observability import AccessLog
from server.request_guard import RequestGuard
from server.routers import (
    account,
    admin,
    chat,
    docs,
    embeddings,
    health,
    jobs,
    models,
    speech,
    stt,
    text_pipelines,
    tokenize,
    video,
)
from server.security import ContentSecurityPolicy
from server.state import AppServices
from server.tenancy import tenant_upload_cap

log = logging.getLogger(__name__)
ROUTERS = (
    health,
    models,
    chat,
    tokenize,
    embeddings,
    stt,
    speech,
    text_pipelines,
    jobs,
    video,
    account,
    admin,
    docs,
)


def build_services(
    settings: Settings,
    registry: ModelRegistry | None = None,
    extra_job_types: Iterable[JobType] = (),
) -> AppServices:
    """Every service of one app, each given what it depends on; nothing is opened yet."""
    registry = registry or ModelRegistry(settings.models, settings.model_dir, settings.registry)
    stores = stores_for(settings.jobs_database())  # one database for accounts and jobs
    accounts = AccountService.from_settings(settings, stores.accounts)
    types = job_types(settings.jobs, extra_job_types)
    jobs = JobService.from_settings(settings, registry, types, policy=accounts, store=stores.jobs)
    gate = InflightGate(settings.server.max_inflight_per_model)
    return AppServices(
        settings=settings,
        registry=registry,
        accounts=accounts,
        jobs=jobs,
        retention=Retention(jobs, accounts, settings.data_dir, settings.tenants.sweep_interval_s),
        text=TextPipelines(jobs.services, admit=gate.enter),
        gate=gate,
        rate_limiter=RateLimiter(settings.server.rate_limit_storage),
    )


@contextlib.asynccontextmanager
async def running(services: AppServices) -> AsyncIterator[None]:
    """Start the services in dependency order; stop them in reverse, however start-up ended."""
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(services.rate_limiter.close)
        await services.accounts.open()  # keys and quotas: every request needs them
        stack.push_async_callback(services.accounts.close)
        await services.registry.preload()
        stack.push_async_callback(services.registry.close)
        idle_sweeper = asyncio.create_task(services.registry.run_idle_sweeper())
        stack.callback(idle_sweeper.cancel)
        removed = await asyncio.to_thread(clear_unfinished_uploads, services.settings.data_dir)
        if removed:  # no request of this process is under way yet: these are a dead one's
            log.warning("removed %d unfinished uploads left by a stopped server", len(removed))
        await services.jobs.start()  # its workers: in-process (SQLite) or task-queue ones
        stack.push_async_callback(services.jobs.close)
        await stack.enter_async_context(sweeping(services.retention))
        yield


def create_app(
    settings: Settings,
    registry: ModelRegistry | None = None,
    extra_job_types: Iterable[JobType] = (),
) -> FastAPI:
    """The HTTP app; `extra_job_types` are offered beside the workflows' (tests add their own)."""
    enforce_offline()
    services = build_services(settings, registry, extra_job_types)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running(services):
            yield

    # /docs and /redoc are server.routers.docs: pages on vendored assets, not on public CDNs
    app = FastAPI(
        title="localshang", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.services = services
    install_error_handlers(app)
    # a worker node (jobs.role) runs jobs and answers its probes; the API nodes serve the rest
    serves_api = settings.jobs.role != "worker"
    for module in ROUTERS if serves_api else (health,):
        app.include_router(module.router)
    if serves_api:
        console.install(app)  # the web console's pages, at / beside the API's /v1
        app.mount("/static", StaticFiles(packages=[("server", "static")]), name="static")
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
    app.add_middleware(ContentSecurityPolicy)  # the pages the server renders
    app.add_middleware(  # before any route, upload cap or CORS answer: other sites get nothing
        RequestGuard,
        keys_exist=services.accounts.keys_exist,
        allowed_hosts=settings.server.allowed_hosts,
        allowed_origins=settings.server.cors_origins,
    )
    app.add_middleware(AccessLog)  # logs and stamps every response, 413s and 421s included
    # outermost, so the guard compares Origin with the scheme the client used (X-Forwarded-Proto)
    # and the log shows the client's address; `localshang serve` leaves this to the app
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.server.forwarded_allow_ips)
    return app
