"""Starting a dubbing job from an uploaded clip: what `POST /v1/video/dubbings` and the console's
dub form both do, so that a clip the API refuses is refused by the console in the same way."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import UploadFile

from pipelines.platform.jobs.service import JobService, validation_message
from pipelines.platform.jobs.types import JobRecord
from pipelines.platform.uploads import INCOMING_PREFIX, remove_upload, sweep_uploads, uploads_dir
from pipelines.settings import Settings
from pipelines.video.dubbing_job import JOB_TYPE, DubbingInput, check_models
from pipelines.video.uploads import accept_clip
from server.errors import APIError

PLACEHOLDER_UPLOAD = "0" * 32


async def start_dubbing(
    jobs: JobService,
    settings: Settings,
    tenant: str,
    upload: UploadFile,
    fields: dict[str, Any],
    actor: str | None = None,
) -> JobRecord:
    """Check the options, probe the clip, then submit the `video_dubbing` job.

    The clip is probed before the job exists: what is not a decodable video within the limits
    gets a 400 and leaves nothing on disk.
    """
    if JOB_TYPE not in jobs.types:
        raise APIError(503, "Video dubbing is not enabled on this server.", code="video_disabled")
    try:  # options first: a typo (or a language it cannot dub) should not cost an upload
        options = DubbingInput.model_validate({**fields, "upload_id": PLACEHOLDER_UPLOAD})
    except ValidationError as exc:
        message, param = validation_message(exc, "")
        raise APIError(400, message, param=param, code="invalid_request") from exc
    await check_models(options, jobs.services)
    video_settings = settings.video
    incoming = uploads_dir(settings.data_dir) / f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
    try:
        await asyncio.to_thread(_save, upload, incoming)
        await asyncio.to_thread(sweep_uploads, settings.data_dir, video_settings.upload_ttl_s)
        upload_id, _ = await asyncio.to_thread(
            accept_clip, settings.data_dir, tenant, incoming, video_settings
        )
    finally:
        incoming.unlink(missing_ok=True)
    try:
        return await jobs.submit(tenant, JOB_TYPE, {**fields, "upload_id": upload_id}, actor=actor)
    except BaseException:
        await asyncio.to_thread(remove_upload, settings.data_dir, upload_id)
        raise


def _save(upload: UploadFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    upload.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
