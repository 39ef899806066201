"""A real server process killed with SIGKILL in the middle of a large upload to
/v1/video/dubbings, then started again on the same data folder."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from models.spec import ModelSpec
from pipelines.platform.uploads import INCOMING_PREFIX, OWNER_NAME, VIDEO_NAME, uploads_dir
from tests.fixtures_jobs import ServerProcess, auth, wait_for_job
from tests.fixtures_video import make_clip

BOUNDARY = "crashtest"
CHUNK = 1024 * 1024
CHUNKS = 64  # a 64 MiB clip; the server dies after KILL_AFTER_CHUNKS of it
KILL_AFTER_CHUNKS = 16


def _integrity(database: Path) -> str:
    with sqlite3.connect(database) as db:
        result: str = db.execute("PRAGMA integrity_check").fetchone()[0]
    return result


async def _upload_killed_midway(process: ServerProcess) -> int:
    """Stream a large multipart upload and SIGKILL the server once part of it went out."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="languages"\r\n\r\nen\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        for _ in range(CHUNKS):
            if sent == KILL_AFTER_CHUNKS:
                await asyncio.sleep(0.2)  # let the server take in what was sent
                process.kill()
            sent += 1
            yield b"\0" * CHUNK
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {**auth("shop-a"), "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    async with httpx.AsyncClient(base_url=process.url, timeout=60) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/v1/video/dubbings", content=body(), headers=headers)
    return sent


async def test_a_server_killed_during_an_upload_restarts_clean_and_serves_normally(
    tmp_path: Path, video_model_specs: list[ModelSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"  # the server's temporary files: the form parser spools here
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    process = ServerProcess(tmp_path, video_model_specs)
    data = tmp_path / "data"
    await process.start()
    try:
        sent = await _upload_killed_midway(process)
        assert KILL_AFTER_CHUNKS <= sent < CHUNKS
        assert _integrity(data / "jobs.sqlite3") == "ok"
        assert list(spool.iterdir()) == []  # spooled bodies are unnamed: they die with the process

        # what a kill a moment later leaves: the body half copied out of the spool, and an
        # upload folder killed while being probed (no owner record); a finished upload whose
        # job was not yet created stays (its sweep is the upload TTL's)
        staging = uploads_dir(data)
        staging.mkdir(parents=True, exist_ok=True)
        (staging / f"{INCOMING_PREFIX}{uuid.uuid4().hex}").write_bytes(b"\0" * CHUNK)
        probing = staging / uuid.uuid4().hex
        probing.mkdir()
        (probing / VIDEO_NAME).write_bytes(b"\0" * CHUNK)
        (probing / f".{OWNER_NAME}.part").write_text('{"tenant": "sh')
        finished = staging / uuid.uuid4().hex
        finished.mkdir()
        (finished / VIDEO_NAME).write_bytes(b"\0")
        (finished / OWNER_NAME).write_text(json.dumps({"tenant": "shop-a", "at": time.time()}))

        await process.start()
        assert sorted(p.name for p in staging.iterdir()) == [finished.name]
        assert _integrity(data / "jobs.sqlite3") == "ok"
        async with httpx.AsyncClient(base_url=process.url, timeout=60) as client:
            jobs = (await client.get("/v1/jobs", headers=auth("shop-a"))).json()["data"]
            assert jobs == []  # the killed upload never became a job

            clip = make_clip(tmp_path / "clip.mp4", seconds=1.5, size=(96, 64))
            with clip.open("rb") as file:
                response = await client.post(
                    "/v1/video/dubbings",
                    data={"languages": "en", "keywords": "steel bottle"},
                    files={"file": ("clip.mp4", file, "video/mp4")},
                    headers=auth("shop-a"),
                )
            assert response.status_code == 200, response.text
            job = await wait_for_job(client, response.json()["id"], "shop-a", timeout_s=150)
            assert job["state"] == "succeeded", job["error"]
            video = await client.get(
                f"/v1/jobs/{job['id']}/artifacts/en.mp4", headers=auth("shop-a")
            )
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
            assert int(video.headers["content-length"]) == len(video.content) > 0
    finally:
        process.stop()
    assert _integrity(data / "jobs.sqlite3") == "ok"
