"""Artifact files of jobs under <data_dir>/jobs/<job id>/: written to a temp name, then renamed."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import shutil
import uuid
from pathlib import Path

from pipelines.errors import InvalidInput

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PART_SUFFIX = ".part"
# Scratch space of a running job (media steps); never served, kept across a resume (a stage
# that starts again must tolerate what its previous run left there), removed when the job ends.
WORK_DIR = ".work"


def check_artifact_name(name: str) -> str:
    if not ARTIFACT_NAME.match(name) or name.endswith(PART_SUFFIX):
        raise InvalidInput(
            f"Invalid artifact name '{name}': use letters, digits, '.', '_' and '-' only",
            param="name",
            code="invalid_artifact_name",
        )
    return name


def guess_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


class ArtifactFiles:
    """The files side of artifacts; the job store holds the records that make them visible."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def path(self, job_id: str, name: str) -> Path:
        return self.job_dir(job_id) / check_artifact_name(name)

    def work_dir(self, job_id: str) -> Path:
        path = self.job_dir(job_id) / WORK_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def write(self, job_id: str, name: str, data: bytes) -> tuple[int, str]:
        """Write `data` as artifact `name` atomically; returns (size, sha256)."""
        return await asyncio.to_thread(self._write, job_id, name, data)

    async def adopt(self, job_id: str, name: str, source: Path) -> tuple[int, str]:
        """Move (or copy) a finished file in as artifact `name` atomically."""
        return await asyncio.to_thread(self._adopt, job_id, name, source)

    async def remove(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

    async def remove_work(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id) / WORK_DIR, True)

    async def sweep(self, job_id: str, keep: set[str]) -> list[str]:
        """Delete what a crash left behind: temp files and artifacts that were never recorded."""
        return await asyncio.to_thread(self._sweep, job_id, keep)

    # --- blocking parts, run in a worker thread --------------------------------------------
    def _temp_path(self, job_id: str, name: str) -> Path:
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f".{check_artifact_name(name)}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}"

    def _write(self, job_id: str, name: str, data: bytes) -> tuple[int, str]:
        temp = self._temp_path(job_id, name)
        try:
            with temp.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            return self._publish(temp, self.path(job_id, name), hashlib.sha256(data).hexdigest())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _adopt(self, job_id: str, name: str, source: Path) -> tuple[int, str]:
        temp = self._temp_path(job_id, name)
        try:
            shutil.move(source, temp)
            digest = hashlib.sha256()
            with temp.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
                os.fsync(file.fileno())
            return self._publish(temp, self.path(job_id, name), digest.hexdigest())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    @staticmethod
    def _publish(temp: Path, final: Path, sha256: str) -> tuple[int, str]:
        size = temp.stat().st_size
        os.replace(temp, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a crash before we record it
        finally:
            os.close(directory)
        return size, sha256

    def _sweep(self, job_id: str, keep: set[str]) -> list[str]:
        directory = self.job_dir(job_id)
        if not directory.is_dir():
            return []
        removed = []
        for entry in directory.iterdir():
            if entry.name in keep or entry.name == WORK_DIR:
                continue
            removed.append(entry.name)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return removed
