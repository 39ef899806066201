"""Usage metering: the one helper a serving path calls to count what its tenant used."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from pipelines.llm import tallying_tokens
from pipelines.platform.accounts.service import AccountService
from server.state import app_services
from server.tenancy import CallerDep

log = logging.getLogger(__name__)


class Meter:
    """Counts usage for one tenant; `Meter.off()` counts nothing (services used without a server)."""

    def __init__(self, accounts: AccountService | None, tenant: str) -> None:
        self.accounts = accounts
        self.tenant = tenant

    @classmethod
    def off(cls) -> Meter:
        return cls(None, "")

    async def record(self, **amounts: float) -> None:
        """Save `amounts` (see pipelines.platform.accounts.usage.METRICS) for the tenant.

        The save goes on even if the request is cancelled meanwhile (a client that hung up still
        used the model); a failed save is logged, never turned into a failed answer.
        """
        if self.accounts is None or not self.accounts.is_open or not any(amounts.values()):
            return
        saving = asyncio.ensure_future(self.accounts.record_usage(self.tenant, amounts))
        try:
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("usage of tenant %s was not recorded: %s", self.tenant, amounts)

    async def tokens(self, prompt_tokens: int, completion_tokens: int) -> None:
        await self.record(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    @contextlib.asynccontextmanager
    async def pipeline_tokens(self) -> AsyncIterator[None]:
        """Meter the tokens of the pipelines' LLM calls made in the block, however it ends."""
        with tallying_tokens() as tally:
            try:
                yield
            finally:
                await self.tokens(tally.prompt_tokens, tally.completion_tokens)


async def get_meter(request: Request, caller: CallerDep) -> Meter:
    return Meter(app_services(request).accounts, caller.name)


MeterDep = Annotated[Meter, Depends(get_meter)]
