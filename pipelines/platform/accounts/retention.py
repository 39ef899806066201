"""Retention: a tenant's finished jobs (rows, artifacts, files) and uploads expire after its TTL
and are deleted by a background sweep, with expired web console sessions; a purge deletes all of
a tenant's data at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.platform.accounts.service import AccountService
from pipelines.platform.jobs.service import JobService
from pipelines.platform.uploads import OWNER_NAME, UPLOAD_ID, uploads_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erased:
    tenant: str
    jobs: tuple[str, ...] = ()
    uploads: tuple[str, ...] = ()
    glossaries: int = 0


class Retention:
    def __init__(
        self, jobs: JobService, accounts: AccountService, data_dir: Path, interval_s: float
    ) -> None:
        self.jobs = jobs
        self.accounts = accounts
        self.data_dir = data_dir
        self.interval_s = interval_s

    async def sweep(self, now: float | None = None) -> list[Erased]:
        """Delete what has outlived its tenant's `retention_s` (one audit row per tenant), and
        the web console sessions that expired."""
        now = time.time() if now is None else now
        uploads = await asyncio.to_thread(_uploads, self.data_dir)
        tenants = set(await self.jobs.store.tenants()) | {tenant for _, tenant, _ in uploads}
        erased = []
        for tenant in sorted(tenants):
            ttl = (await self.accounts.quotas(tenant)).retention_s
            if ttl is None:
                continue
            cutoff = now - ttl
            jobs = await self.jobs.erase(tenant, finished_before=cutoff)
            old = [u for u, owner, at in uploads if owner == tenant and at < cutoff]
            await asyncio.to_thread(_remove_uploads, self.data_dir, old)
            if jobs or old:
                erased.append(Erased(tenant, jobs, tuple(old)))
                await self.accounts.audit(
                    "retention.expired",
                    actor="system",
                    tenant=tenant,
                    jobs=list(jobs),
                    uploads=len(old),
                    retention_s=ttl,
                )
        if erased:
            await self.jobs.store.compact()
        await self.accounts.store.delete_expired_sessions(now)  # web console sign-ins
        return erased

    async def purge(self, tenant: str, actor: str) -> Erased:
        """Delete every job (cancelling those not finished), artifact, upload and glossary of
        `tenant` now. Keys, quotas, usage and the audit log stay: they are the operator's."""
        jobs = await self.jobs.erase(tenant)
        glossaries = await self.jobs.store.delete_glossaries(tenant)
        staged = await asyncio.to_thread(_uploads, self.data_dir)
        uploads = [upload_id for upload_id, owner, _ in staged if owner == tenant]
        await asyncio.to_thread(_remove_uploads, self.data_dir, uploads)
        await self.jobs.store.compact()
        erased = Erased(tenant, jobs, tuple(uploads), glossaries)
        await self.accounts.audit(
            "tenant.purged",
            actor=actor,
            tenant=tenant,
            jobs=len(jobs),
            uploads=len(uploads),
            glossaries=glossaries,
        )
        return erased

    async def run(self) -> None:
        """Sweep every `interval_s` until cancelled; a failed sweep is logged and retried."""
        while True:
            try:
                for erased in await self.sweep():
                    log.info(
                        "retention: tenant %s: %d jobs and %d uploads expired",
                        erased.tenant,
                        len(erased.jobs),
                        len(erased.uploads),
                    )
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.interval_s)


@contextlib.asynccontextmanager
async def sweeping(retention: Retention) -> AsyncIterator[Retention]:
    """Run `retention.run()` in the background for the duration of the block."""
    task = asyncio.create_task(retention.run(), name="retention-sweeper")
    try:
        yield retention
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- uploads (blocking; run in a worker thread) -------------------------------------------
def _uploads(data_dir: Path) -> list[tuple[str, str, float]]:
    """(upload id, tenant, uploaded at) of every staged upload whose owner is recorded."""
    root = uploads_dir(data_dir)
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        owner = folder / OWNER_NAME
        if not UPLOAD_ID.match(folder.name) or not owner.is_file():
            continue
        try:
            record = json.loads(owner.read_text())
            found.append((folder.name, str(record["tenant"]), float(record["at"])))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("upload %s: unreadable owner record", folder.name)
    return found


def _remove_uploads(data_dir: Path, upload_ids: list[str]) -> None:
    for upload_id in upload_ids:
        shutil.rmtree(uploads_dir(data_dir) / upload_id, ignore_errors=True)
