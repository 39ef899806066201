"""The jobs API over HTTP on the real app: states, progress, queueing, tenants, cancellation,
artifacts with Range requests, and server-sent progress events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.fixtures_jobs import JobsClient, auth, big_payload, wait_for_job
from tests.fixtures_server import assert_error


async def submit(
    client: httpx.AsyncClient, tenant: str, type_: str = "slow", **input: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/jobs", json={"type": type_, "input": input}, headers=auth(tenant)
    )
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def test_job_runs_through_its_stages_and_publishes_artifacts(
    jobs_client: JobsClient, database_url: str
) -> None:
    async with jobs_client(database=database_url) as client:
        job = await submit(client, "shop-a", steps=3, big_bytes=3000)
        assert job["object"] == "job" and job["state"] in ("queued", "running")
        assert job["stage_count"] == 3
        done = await wait_for_job(client, job["id"], "shop-a")
        assert done["state"] == "succeeded", done["error"]
        assert done["progress"] == 1.0 and done["stages_completed"] == 3
        assert done["result"] == {"steps_done": 3, "starts": [0]}
        assert done["attempts"] == 1 and done["error"] is None
        assert done["timings"]["running_s"] > 0
        assert {a["name"]: a["bytes"] for a in done["artifacts"]} == {
            "prepared.txt": 9,
            "big.bin": 3000,
        }
        listed = (await client.get("/v1/jobs", headers=auth("shop-a"))).json()
        assert [j["id"] for j in listed["data"]] == [job["id"]]


async def test_artifact_download_has_content_type_and_honours_range(
    jobs_client: JobsClient,
) -> None:
    async with jobs_client() as client:
        job = await submit(client, "shop-a", steps=1, step_s=0, big_bytes=5000)
        job = await wait_for_job(client, job["id"], "shop-a")
        url = f"/v1/jobs/{job['id']}/artifacts/big.bin"
        whole = await client.get(url, headers=auth("shop-a"))
        assert whole.status_code == 200
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.content == big_payload(5000)
        part = await client.get(url, headers={**auth("shop-a"), "Range": "bytes=1000-1099"})
        assert part.status_code == 206
        assert part.headers["content-range"] == "bytes 1000-1099/5000"
        assert part.content == big_payload(5000)[1000:1100]
        tail = await client.get(url, headers={**auth("shop-a"), "Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == big_payload(5000)[-10:]
        beyond = await client.get(url, headers={**auth("shop-a"), "Range": "bytes=9000-"})
        assert beyond.status_code == 416
        text = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/prepared.txt", headers=auth("shop-a")
        )
        assert text.headers["content-type"].startswith("text/plain")
        missing = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/nothing.txt", headers=auth("shop-a")
        )
        assert_error(missing, 404, "artifact_not_found")
        sneaky = await client.get(
            f"/v1/jobs/{job['id']}/artifacts/..%2F..%2Fjobs.sqlite3", headers=auth("shop-a")
        )
        assert sneaky.status_code in (400, 404)


async def test_ranges_follow_rfc_9110_invalid_ones_are_ignored_unsatisfiable_ones_are_416(
    jobs_client: JobsClient,
) -> None:
    async with jobs_client() as client:
        job = await submit(client, "shop-a", steps=1, step_s=0, big_bytes=5000)
        job = await wait_for_job(client, job["id"], "shop-a")
        url = f"/v1/jobs/{job['id']}/artifacts/big.bin"
        payload = big_payload(5000)

        async def get(range_: str) -> httpx.Response:
            return await client.get(url, headers={**auth("shop-a"), "Range": range_})

        for invalid in ("bytes=5-1", "bytes=abc", "pages=0-9", "bytes=", "bytes=--5"):
            ignored = await get(invalid)
            assert (ignored.status_code, ignored.content) == (200, payload), invalid
        for unsatisfiable in ("bytes=5000-", "bytes=9000-9999", "bytes=-0"):
            refused = await get(unsatisfiable)
            assert_error(refused, 416, "range_not_satisfiable", param="range")
            assert refused.headers["content-range"] == "bytes */5000", unsatisfiable
        several = await get("bytes=0-9, 100-109")  # answered as multipart/byteranges
        assert several.status_code == 206
        assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
        parts = several.content.split(b"\r\n\r\n")
        assert parts[1].startswith(payload[:10]) and parts[2].startswith(payload[100:110])
        stale = await client.get(
            url, headers={**auth("shop-a"), "Range": "bytes=0-9", "If-Range": '"other"'}
        )
        assert (stale.status_code, stale.content) == (200, payload)  # changed: the whole file


async def test_deleting_a_finished_job_removes_it_everywhere(
    jobs_client: JobsClient, database_url: str
) -> None:
    async with jobs_client(database=database_url) as client:
        job = await submit(client, "shop-a", steps=1, step_s=0)
        job = await wait_for_job(client, job["id"], "shop-a")
        assert job["state"] == "succeeded" and job["artifacts"] and job["deleted"] is False
        base = f"/v1/jobs/{job['id']}"
        deleted = await client.delete(base, headers=auth("shop-a"))
        assert deleted.status_code == 200
        body = deleted.json()
        assert (body["id"], body["state"], body["deleted"]) == (job["id"], "succeeded", True)
        assert body["artifacts"] == []
        for response in (
            await client.get(base, headers=auth("shop-a")),
            await client.get(f"{base}/events", headers=auth("shop-a")),
            await client.get(f"{base}/artifacts/prepared.txt", headers=auth("shop-a")),
            await client.delete(base, headers=auth("shop-a")),
        ):
            assert_error(response, 404, "job_not_found")
        assert (await client.get("/v1/jobs", headers=auth("shop-a"))).json()["data"] == []

        # a running job is cancelled and stays, cancelled; deleted again, it is gone too
        running = await submit(client, "shop-a", steps=200, step_s=0.05)
        cancelled = await client.delete(f"/v1/jobs/{running['id']}", headers=auth("shop-a"))
        assert (cancelled.json()["state"], cancelled.json()["deleted"]) == ("cancelled", False)
        gone = await client.delete(f"/v1/jobs/{running['id']}", headers=auth("shop-a"))
        assert gone.json()["deleted"] is True
        after = await client.get(f"/v1/jobs/{running['id']}", headers=auth("shop-a"))
        assert_error(after, 404, "job_not_found")


async def test_another_tenant_sees_nothing_of_a_job(jobs_client: JobsClient) -> None:
    async with jobs_client() as client:
        job = await submit(client, "shop-a", steps=1, step_s=0)
        await wait_for_job(client, job["id"], "shop-a")
        base = f"/v1/jobs/{job['id']}"
        for response in (
            await client.get(base, headers=auth("shop-b")),
            await client.get(f"{base}/events", headers=auth("shop-b")),
            await client.get(f"{base}/artifacts/prepared.txt", headers=auth("shop-b")),
            await client.delete(base, headers=auth("shop-b")),
        ):
            assert_error(response, 404, "job_not_found")
        assert (await client.get("/v1/jobs", headers=auth("shop-b"))).json()["data"] == []
        assert (await client.get(base, headers=auth("shop-a"))).json()["state"] == "succeeded"
        assert_error(await client.get("/v1/jobs"), 401, "missing_api_key")


async def test_full_pool_queues_jobs_with_visible_positions(
    jobs_client: JobsClient, database_url: str
) -> None:
    async with jobs_client(concurrency={"test": 1}, database=database_url) as client:
        first = await submit(client, "shop-a", steps=40, step_s=0.05)
        await wait_for_job(client, first["id"], "shop-a", lambda j: j["state"] == "running")
        second = await submit(client, "shop-b", steps=1, step_s=0)
        third = await submit(client, "shop-a", steps=1, step_s=0)
        assert (second["state"], second["queue_position"]) == ("queued", 1)
        assert (third["state"], third["queue_position"]) == ("queued", 2)
        running = (await client.get(f"/v1/jobs/{first['id']}", headers=auth("shop-a"))).json()
        assert running["queue_position"] is None and running["stage"] in ("prepare", "work")
        await client.delete(f"/v1/jobs/{first['id']}", headers=auth("shop-a"))
        for job, tenant in ((second, "shop-b"), (third, "shop-a")):
            finished = await wait_for_job(client, job["id"], tenant)
            assert finished["state"] == "succeeded"
            assert finished["timings"]["queued_s"] > 0


async def test_cancelling_stops_a_running_job_and_deletes_its_artifacts(
    jobs_client: JobsClient,
    database_url: str,
) -> None:
    async with jobs_client(concurrency={"test": 1}, database=database_url) as client:
        running = await submit(client, "shop-a", steps=200, step_s=0.05)
        queued = await submit(client, "shop-a", steps=1)
        running = await wait_for_job(
            client, running["id"], "shop-a", lambda j: j["stages_completed"] >= 1
        )
        assert [a["name"] for a in running["artifacts"]] == ["prepared.txt"]
        dropped = await client.delete(f"/v1/jobs/{queued['id']}", headers=auth("shop-a"))
        assert dropped.json()["state"] == "cancelled"
        cancelled = await client.delete(f"/v1/jobs/{running['id']}", headers=auth("shop-a"))
        assert cancelled.status_code == 200
        body = cancelled.json()
        assert body["state"] == "cancelled" and body["artifacts"] == []
        assert body["error"]["code"] == "cancelled"
        gone = await client.get(
            f"/v1/jobs/{running['id']}/artifacts/prepared.txt", headers=auth("shop-a")
        )
        assert_error(gone, 404, "artifact_not_found")
        await asyncio.sleep(0.3)  # the job stays cancelled: no worker picks it up, none finishes it
        for job_id in (running["id"], queued["id"]):
            job = (await client.get(f"/v1/jobs/{job_id}", headers=auth("shop-a"))).json()
            assert job["state"] == "cancelled" and job["artifacts"] == []
            assert job["attempts"] == (1 if job_id == running["id"] else 0)


async def test_events_stream_progress_until_the_job_ends(
    jobs_client: JobsClient, database_url: str
) -> None:
    async with jobs_client(database=database_url) as client:
        job = await submit(client, "shop-a", steps=5, step_s=0.1)
        events: list[dict[str, Any]] = []
        async with client.stream(
            "GET", f"/v1/jobs/{job['id']}/events", headers=auth("shop-a")
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    if data == "[DONE]":
                        break
                    events.append(json.loads(data))
        assert len(events) >= 4
        progress = [e["progress"] for e in events]
        assert progress == sorted(progress)
        # changes closer together than a read are coalesced; the slow stages are all seen
        assert {"work", "write"} <= {e["stage"] for e in events}
        assert len({e["progress"] for e in events if e["stage"] == "work"}) >= 3
        assert events[-1]["state"] == "succeeded" and events[-1]["progress"] == 1.0


async def test_bad_submissions_get_clear_errors(jobs_client: JobsClient) -> None:
    async with jobs_client() as client:
        unknown = await client.post(
            "/v1/jobs", json={"type": "dance", "input": {}}, headers=auth("shop-a")
        )
        error = assert_error(unknown, 400, "unknown_job_type")
        assert "slow" in error["message"] and "translation" in error["message"]
        bad = await client.post(
            "/v1/jobs", json={"type": "slow", "input": {"steps": 0}}, headers=auth("shop-a")
        )
        assert assert_error(bad, 400, "invalid_input")["param"] == "input.steps"
        assert_error(await client.get("/v1/jobs/job_nope", headers=auth("shop-a")), 404)


async def test_a_stage_that_raises_fails_the_job_with_the_reason(jobs_client: JobsClient) -> None:
    async with jobs_client() as client:
        job = await submit(client, "shop-a", steps=3, step_s=0, fail_at=1)
        job = await wait_for_job(client, job["id"], "shop-a")
        assert job["state"] == "failed"
        assert job["error"]["code"] == "internal_error"
        assert "work" in job["error"]["message"] and "step 1 broke" in job["error"]["message"]
        assert job["stage"] == "work" and job["stages_completed"] == 1
