"""Uploaded files waiting for their job: checked on arrival, owned by a tenant, handed to the
job's folder once, swept when no job took them."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pipelines.errors import InvalidInput

T = TypeVar("T")

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
VIDEO_NAME = "video"
OWNER_NAME = "owner.json"
# A request body being copied out of the form parser's spool; becomes an upload folder once whole.
INCOMING_PREFIX = ".incoming-"


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "video_uploads"


def accept_upload(
    data_dir: Path, tenant: str, source: Path, inspect: Callable[[Path], T]
) -> tuple[str, T]:
    """Move `source` into a fresh upload folder and `inspect` it there (e.g. ffprobe).

    A file that `inspect` refuses (InvalidInput) leaves nothing behind.
    """
    upload_id = uuid.uuid4().hex
    folder = uploads_dir(data_dir) / upload_id
    folder.mkdir(parents=True)
    try:
        video = folder / VIDEO_NAME
        shutil.move(source, video)
        info = inspect(video)
        # written whole or not at all: an upload without its owner record is an unfinished one
        partial = folder / f".{OWNER_NAME}.part"
        partial.write_text(json.dumps({"tenant": tenant, "at": time.time()}))
        partial.replace(folder / OWNER_NAME)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return upload_id, info


def upload_path(data_dir: Path, tenant: str, upload_id: str) -> Path:
    """The staged video of `upload_id`, if it exists and belongs to `tenant`."""
    folder = uploads_dir(data_dir) / upload_id
    owner = folder / OWNER_NAME
    if not UPLOAD_ID.match(upload_id) or not owner.is_file():
        raise InvalidInput(
            f"No uploaded video with id '{upload_id}'", param="upload_id", code="upload_not_found"
        )
    if json.loads(owner.read_text()).get("tenant") != tenant:
        raise InvalidInput(
            f"No uploaded video with id '{upload_id}'", param="upload_id", code="upload_not_found"
        )
    return folder / VIDEO_NAME


def take_upload(data_dir: Path, upload_id: str, destination: Path) -> Path:
    """Move the staged video to `destination` (in the job's folder) and drop its staging folder.

    Safe to call again after a crash: a video already moved is left where it is.
    """
    folder = uploads_dir(data_dir) / upload_id
    if not destination.exists():
        if not (folder / VIDEO_NAME).is_file():
            raise InvalidInput(
                f"The uploaded video '{upload_id}' is gone", param="upload_id", code="upload_gone"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(folder / VIDEO_NAME, destination)
    shutil.rmtree(folder, ignore_errors=True)
    return destination


def remove_upload(data_dir: Path, upload_id: str) -> None:
    if UPLOAD_ID.match(upload_id):
        shutil.rmtree(uploads_dir(data_dir) / upload_id, ignore_errors=True)


def sweep_uploads(data_dir: Path, ttl_s: float, now: float | None = None) -> list[str]:
    """Remove uploads older than `ttl_s` that no job took (e.g. its job was cancelled first),
    and request bodies a crashed process left half copied that long ago."""
    now = time.time() if now is None else now
    root = uploads_dir(data_dir)
    removed = []
    for entry in root.iterdir() if root.is_dir() else ():
        if now - entry.stat().st_mtime > ttl_s:
            _remove(entry)
            removed.append(entry.name)
    return removed


def clear_unfinished_uploads(data_dir: Path) -> list[str]:
    """At start-up: remove what a killed server left half done, since no request of this
    process is under way yet. That is request bodies being copied (`.incoming-*`) and upload
    folders whose owner record was never written (killed while probing)."""
    root = uploads_dir(data_dir)
    removed = []
    for entry in root.iterdir() if root.is_dir() else ():
        finished = entry.is_dir() and (entry / OWNER_NAME).is_file()
        if not finished:
            _remove(entry)
            removed.append(entry.name)
    return removed


def _remove(entry: Path) -> None:
    if entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
