"""Two nodes for real: two uvicorn processes (role all) on one PostgreSQL database and one data
folder (the artifacts' shared storage), jobs dispatched through procrastinate between them.

Roles other than `all` are refused on SQLite, where one process serves and runs the jobs. A
node on an older schema refuses to serve: test_storage.py
(test_a_node_on_an_older_schema_upgrades_sqlite_but_refuses_a_shared_postgresql).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from models.spec import ModelSpec
from pipelines.platform.jobs.cluster import RUN_TASK
from pipelines.platform.jobs.job_type import JobTypes
from pipelines.platform.jobs.service import JobService
from tests.fixtures_jobs import (
    SLOW_JOB,
    ServerProcess,
    auth,
    big_payload,
    job_test_settings,
    node_processes,
    wait_for_job,
)
from tests.fixtures_postgres import NewDatabase, upgrade_database
from tests.fixtures_tenancy import run_cli, write_config
from tests.fixtures_video import ffprobe, make_clip

ADMIN = "sk-ops-admin"


class Node:
    def __init__(self, process: ServerProcess, client: httpx.AsyncClient) -> None:
        self.process = process
        self.http = client


@asynccontextmanager
async def cluster(
    tmp: Path, database: str, *, start: int = 2, specs: list[ModelSpec] | None = None
) -> AsyncIterator[tuple[list[Node], Path]]:
    """Nodes A and B on `database` (upgraded first, as an operator does) sharing tmp/data, with
    the models `specs`; only the first `start` of them started. Short heartbeats: a killed node
    is found in ~3 s."""
    await upgrade_database(database)
    settings = job_test_settings(tmp, specs or [], concurrency={"test": 1, "media": 1})
    settings.jobs.database = database
    settings.jobs.heartbeat_s, settings.jobs.stalled_after_s = 0.5, 2.0
    settings.jobs.stalled_check_s = 1
    async with (
        node_processes(tmp, settings, 2, ADMIN) as processes,
        contextlib.AsyncExitStack() as stack,
    ):
        nodes = []
        for process in processes:
            client = httpx.AsyncClient(base_url=process.url, timeout=60)
            nodes.append(Node(process, await stack.enter_async_context(client)))
        for node in nodes[:start]:
            await node.process.start()
        yield nodes, settings.data_dir


async def submit(node: Node, **input: Any) -> str:
    response = await node.http.post(
        "/v1/jobs", json={"type": "slow", "input": input}, headers=auth("shop-a")
    )
    assert response.status_code == 200, response.text
    job_id: str = response.json()["id"]
    return job_id


async def running_tasks(database: str, job_id: str) -> int:
    """procrastinate tasks of the job that some worker runs now."""
    async with await psycopg.AsyncConnection.connect(database) as connection:
        cursor = await connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND lock = %s"
            " AND status = 'doing'",
            (RUN_TASK, job_id),
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.postgresql
async def test_a_key_made_on_one_node_works_on_the_other_until_revoked_there(
    tmp_path: Path, new_postgresql_database: NewDatabase
) -> None:
    async with cluster(tmp_path, new_postgresql_database()) as ([a, b], _):
        admin = {"Authorization": f"Bearer {ADMIN}"}
        made = await a.http.post("/v1/admin/keys", json={"tenant": "shop-c"}, headers=admin)
        assert made.status_code == 200, made.text
        key, key_id = made.json()["key"], made.json()["id"]
        bearer = {"Authorization": f"Bearer {key}"}
        assert (await b.http.get("/v1/jobs", headers=bearer)).status_code == 200

        revoked = await b.http.delete(f"/v1/admin/keys/{key_id}", headers=admin)
        assert revoked.status_code == 200, revoked.text
        assert (await a.http.get("/v1/jobs", headers=bearer)).status_code == 401
        assert (await b.http.get("/v1/jobs", headers=bearer)).status_code == 401


@pytest.mark.postgresql
async def test_a_job_followed_and_cancelled_on_the_other_node_stops_where_it_runs(
    tmp_path: Path, new_postgresql_database: NewDatabase
) -> None:
    database = new_postgresql_database()
    async with cluster(tmp_path, database) as ([a, b], data):
        job_id = await submit(a, steps=300, step_s=0.05)
        url = f"/v1/jobs/{job_id}"
        events: list[dict[str, Any]] = []
        asked = None
        async with b.http.stream("GET", f"{url}/events", headers=auth("shop-a")) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                events.append(json.loads(line.removeprefix("data: ")))
                if (
                    asked is None
                    and events[-1]["stage"] == "work"
                    and events[-1]["progress"] > 0.15
                ):
                    asked = time.monotonic()
                    cancelled = await b.http.delete(url, headers=auth("shop-a"))
                    assert cancelled.status_code == 200, cancelled.text
                    assert cancelled.json()["state"] == "cancelled"
            assert events[-1]["state"] == "cancelled"  # the stream on B saw the end, and ended
        # the node that ran it (A or B) let it go: its task stopped, its files are gone
        assert await running_tasks(database, job_id) == 0
        assert asked is not None and time.monotonic() - asked < 5
        assert not (data / "jobs" / job_id).exists()
        stopped = (await a.http.get(url, headers=auth("shop-a"))).json()
        await asyncio.sleep(1)  # a stage still going would move the progress, or write files
        later = (await b.http.get(url, headers=auth("shop-a"))).json()
        assert later["state"] == "cancelled" and later["artifacts"] == []
        assert later["progress"] == stopped["progress"] and later["stage"] == stopped["stage"]
        assert not (data / "jobs" / job_id).exists()


@pytest.mark.postgresql
async def test_a_dub_cancelled_on_the_other_node_stops_with_its_ffmpeg_and_leaves_nothing(
    tmp_path: Path, new_postgresql_database: NewDatabase, video_model_specs: list[ModelSpec]
) -> None:
    database = new_postgresql_database()
    clip = make_clip(tmp_path / "clip.mp4", seconds=20.0, speech="A steel bottle. " * 12)
    async with cluster(tmp_path, database, specs=video_model_specs) as ([a, b], data):
        with clip.open("rb") as file:
            made = await a.http.post(
                "/v1/video/dubbings",
                files={"file": ("clip.mp4", file, "video/mp4")},
                data={"mode": "translate", "languages": "zh,en,es", "source_language": "en"},
                headers=auth("shop-a"),
            )
        assert made.status_code == 200, made.text
        job_id = made.json()["id"]
        url = f"/v1/jobs/{job_id}"
        asked = None
        async with b.http.stream("GET", f"{url}/events", headers=auth("shop-a")) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line.removeprefix("data: "))
                if asked is None and event["state"] == "running":
                    asked = time.monotonic()
                    cancelled = await b.http.delete(url, headers=auth("shop-a"))
                    assert cancelled.status_code == 200, cancelled.text
                    assert cancelled.json()["state"] == "cancelled", cancelled.json()
        assert asked is not None and time.monotonic() - asked < 5
        assert await running_tasks(database, job_id) == 0
        assert not (data / "jobs" / job_id).exists()  # its folder, intermediates and clip
        ffmpeg = [p for p in psutil.process_iter(["cmdline"]) if job_id in " ".join(
            p.info["cmdline"] or []
        )]  # fmt: skip
        assert ffmpeg == []
        later = (await a.http.get(url, headers=auth("shop-a"))).json()
        assert later["state"] == "cancelled" and later["artifacts"] == []


@pytest.mark.postgresql
async def test_a_killed_node_s_job_is_finished_by_the_other_from_its_last_stage(
    tmp_path: Path, new_postgresql_database: NewDatabase
) -> None:
    async with cluster(tmp_path, new_postgresql_database(), start=1) as ([a, b], _):
        size = 8 * 1024
        job_id = await submit(a, steps=120, step_s=0.05, big_bytes=size)
        await wait_for_job(a.http, job_id, "shop-a", lambda j: j["stage"] == "work")
        await b.process.start()  # only A could take it; B is up before A dies
        before = await wait_for_job(
            a.http, job_id, "shop-a", lambda j: j["stage"] == "work" and j["progress"] > 0.3
        )
        a.process.kill()
        assert before["state"] == "running" and before["stages_completed"] == 1

        done = await wait_for_job(b.http, job_id, "shop-a", timeout_s=60)
        assert done["state"] == "succeeded", done["error"]
        assert done["attempts"] == 2  # one crash resume, counted against max_resumes
        # 'prepare' completed once, before the crash; 'work' went on from its checkpoint
        first_start, second_start = done["result"]["starts"]
        assert first_start == 0 and second_start > 0
        assert done["result"]["steps_done"] == 120
        assert [a["name"] for a in done["artifacts"]] == ["prepared.txt", "big.bin"]
        big = await b.http.get(f"/v1/jobs/{job_id}/artifacts/big.bin", headers=auth("shop-a"))
        assert big.content == big_payload(size)


# Forty lines per language: voicing them takes long enough to kill the node in the middle.
OWN_LINES = "\n".join(f"Line {n}: a steel bottle keeps water cold." for n in range(40))


async def dub_own_script(node: Node, clip: Path) -> str:
    """A dub from the user's own lines (no LLM: its outputs are the same on every run)."""
    with clip.open("rb") as file:
        made = await node.http.post(
            "/v1/video/dubbings",
            files={"file": ("clip.mp4", file, "video/mp4")},
            data={
                "mode": "own",
                "languages": "en,es",
                "scripts": json.dumps({"en": OWN_LINES, "es": OWN_LINES}),
            },
            headers=auth("shop-a"),
        )
    assert made.status_code == 200, made.text
    job_id: str = made.json()["id"]
    return job_id


async def outputs(node: Node, job: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """What a merchant compares: each MP4's streams and duration, each script's lines."""
    seen: dict[str, Any] = {}
    for code in ("en", "es"):
        base = f"/v1/jobs/{job['id']}/artifacts/{code}"
        mp4 = tmp / f"{job['id']}-{code}.mp4"
        mp4.write_bytes((await node.http.get(f"{base}.mp4", headers=auth("shop-a"))).content)
        probed = ffprobe(mp4)
        script = (await node.http.get(f"{base}.script.json", headers=auth("shop-a"))).json()
        seen[code] = {
            "duration": round(float(probed["format"]["duration"]), 1),
            "streams": sorted(s["codec_type"] for s in probed["streams"]),
            "lines": [(line["start"], line["text"]) for line in script["lines"]],
        }
    return seen


@pytest.mark.postgresql
async def test_a_dub_whose_node_is_killed_is_finished_by_the_other_as_if_nothing_happened(
    tmp_path: Path, new_postgresql_database: NewDatabase, video_model_specs: list[ModelSpec]
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=60.0)
    async with cluster(tmp_path, new_postgresql_database(), start=1, specs=video_model_specs) as (
        [a, b],
        _,
    ):
        job_id = await dub_own_script(a, clip)
        await b.process.start()  # up, but A took the job first (it was alone when it came)
        before = await wait_for_job(
            a.http, job_id, "shop-a", lambda j: j["stage"] == "voice", timeout_s=120
        )
        a.process.kill()  # in the voice stage: probe, transcribe and script are done
        assert before["state"] == "running" and before["stages_completed"] == 3
        crashed = await wait_for_job(b.http, job_id, "shop-a", timeout_s=300)
        assert crashed["state"] == "succeeded", crashed["error"]
        assert crashed["attempts"] == 2  # resumed once, from the voice stage

        clean = await wait_for_job(b.http, await dub_own_script(b, clip), "shop-a", timeout_s=300)
        assert clean["state"] == "succeeded" and clean["attempts"] == 1
        names = sorted(a["name"] for a in crashed["artifacts"])
        assert names == sorted(a["name"] for a in clean["artifacts"])  # nothing twice, none lost
        assert await outputs(b, crashed, tmp_path) == await outputs(b, clean, tmp_path)


def test_api_and_worker_roles_are_refused_on_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = job_test_settings(tmp_path, [])
    settings.jobs.role = "api"
    with pytest.raises(ValueError, match=r"jobs\.role 'api' needs a PostgreSQL"):
        JobService.from_settings(settings, registry=None, types=JobTypes([SLOW_JOB]))
    config = write_config(settings, tmp_path / "config.yaml")
    code, _, _ = run_cli(config, "serve", "--role", "worker")
    assert code == 2 and "jobs.role 'worker' needs a PostgreSQL" in caplog.text
