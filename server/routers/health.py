"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from models.registry import ModelRegistry
from server.deps import AccountsDep, JobsDep, RegistryDep, SettingsDep
from server.probes import is_redis, ping_redis, probe

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Live: the process answers."""
    return {"status": "ok"}


def missing_weights(registry: ModelRegistry) -> list[str]:
    """The models neither loaded nor loadable (weights not on disk): /ready and the console."""
    return [
        spec.id
        for spec in registry.specs()
        if not registry.is_loaded(spec.id) and spec.path and not registry.path_of(spec).exists()
    ]


@router.get("/ready")
async def ready(
    registry: RegistryDep, accounts: AccountsDep, jobs: JobsDep, settings: SettingsDep
) -> JSONResponse:
    """Ready: every configured model has its weights on disk (loadable) or is loaded already, and
    the database answers a trivial query (every request's key is looked up there), and so does a
    fleet's task queue (reported with the number of jobs waiting in it).

    A Redis of shared rate limits is reported, not required: the limiter fails open without it
    (server.limits), and every node shares that one Redis, so making its outage unreadiness
    would take the whole fleet out of a load balancer's rotation. Why a dependency is down goes
    to the log, not to this unauthenticated answer (it would show internal hosts)."""
    missing = missing_weights(registry)
    database = await probe(accounts.store.ping())
    body: dict[str, Any] = {"missing_weights": missing, "database": {"status": database.status}}
    if not database.ok:
        log.warning("/ready: the database does not answer: %s", database.error)
    # a fleet's task queue (PostgreSQL): this node's jobs run only while it answers
    counted: dict[str, int | None] = {}

    async def count_waiting() -> None:
        counted["waiting"] = await jobs.queue_waiting()

    queue = await probe(count_waiting())
    if not queue.ok or counted.get("waiting") is not None:
        body["queue"] = {"status": queue.status, "waiting": counted.get("waiting")}
    if not queue.ok:
        log.warning("/ready: the task queue does not answer: %s", queue.error)
    storage = settings.server.rate_limit_storage
    if is_redis(storage):
        redis = await probe(ping_redis(storage))
        body["rate_limit_storage"] = {"status": redis.status}
        if not redis.ok:
            log.warning("/ready: the rate limit storage does not answer: %s", redis.error)
    serving = database.ok and queue.ok and not missing
    body = {"status": "ready" if serving else "not_ready", **body}
    return JSONResponse(body, status_code=200 if serving else 503)
