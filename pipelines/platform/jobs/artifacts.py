"""Artifact files of jobs under <data_dir>/jobs/<job id>/: written to a temp name, then renamed;
encrypted at rest when a cipher is given (work files stay plain: they are scratch)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import mimetypes
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from pipelines.errors import InvalidInput
from pipelines.platform.jobs.crypto import ArtifactCipher

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

    def __init__(self, root: Path, cipher: ArtifactCipher | None = None) -> None:
        self.root = root
        self.cipher = cipher

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

    async def link(self, from_job: str, name: str, to_job: str) -> None:
        """Give `to_job` artifact `name` of `from_job` byte for byte (encrypted as it is): a hard
        link, or a copy where the file system has none. Deleting either job leaves the other's."""
        await asyncio.to_thread(self._link, from_job, name, to_job)

    async def export(self, job_id: str, name: str, target: Path) -> None:
        """A plaintext copy of artifact `name` at `target` (e.g. in another job's work dir)."""

        def copy() -> None:
            with target.open("wb") as out:
                for block in self.read(self.path(job_id, name)):
                    out.write(block)

        await asyncio.to_thread(copy)

    async def remove(self, job_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

    def read(self, path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Plaintext bytes start..end (inclusive; default: to the end) of an artifact file,
        decrypted if need be. Blocking: iterate it in a worker thread."""
        with path.open("rb") as file:
            if self.cipher is not None:
                size = self.cipher.plain_size(path.stat().st_size)
                yield from self.cipher.read_range(file, start, size - 1 if end is None else end)
                return
            file.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                block = file.read(1 << 20 if left is None else min(1 << 20, left))
                if not block:
                    return
                left = None if left is None else left - len(block)
                yield block

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
                if self.cipher is not None:
                    self.cipher.encrypt_stream(io.BytesIO(data), file)
                else:
                    file.write(data)
                file.flush()
                os.fsync(file.fileno())
            digest = hashlib.sha256(data).hexdigest()
            return self._publish(temp, self.path(job_id, name), len(data), digest)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _link(self, from_job: str, name: str, to_job: str) -> None:
        source, temp = self.path(from_job, name), self._temp_path(to_job, name)
        try:
            try:
                os.link(source, temp)
            except OSError:
                shutil.copyfile(source, temp)
            self._publish(temp, self.path(to_job, name), 0, "")
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _adopt(self, job_id: str, name: str, source: Path) -> tuple[int, str]:
        temp = self._temp_path(job_id, name)
        try:
            if self.cipher is not None:
                with source.open("rb") as plain, temp.open("wb") as file:
                    size, digest = self.cipher.encrypt_stream(plain, file)
                    file.flush()
                    os.fsync(file.fileno())
                source.unlink()
                return self._publish(temp, self.path(job_id, name), size, digest)
            shutil.move(source, temp)
            hashed = hashlib.sha256()
            with temp.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    hashed.update(block)
                os.fsync(file.fileno())
            return self._publish(
                temp, self.path(job_id, name), temp.stat().st_size, hashed.hexdigest()
            )
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    @staticmethod
    def _publish(temp: Path, final: Path, size: int, sha256: str) -> tuple[int, str]:
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
