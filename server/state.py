"""What the app holds: the services the composition root (server.app) built, one set per app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from models.registry import ModelRegistry
from pipelines.platform.accounts.retention import Retention
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.jobs.service import JobService
from pipelines.settings import Settings
from pipelines.text.service import TextPipelines
from server.limits import InflightGate, RateLimiter


@dataclass(frozen=True)
class AppServices:
    """Built once by `create_app`, started in this order by its lifespan, stopped in reverse."""

    settings: Settings
    registry: ModelRegistry
    accounts: AccountService
    jobs: JobService
    retention: Retention
    text: TextPipelines  # translation and copywriting answered directly (not as jobs)
    gate: InflightGate
    rate_limiter: RateLimiter


def app_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services
