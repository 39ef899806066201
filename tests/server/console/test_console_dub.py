"""The dubbing pages through the in-process client: the dub form makes a job per clip (as the
API does), the job page follows it over server-sent HTML, serves its files with Range, and
refuses what is not the viewer's; every page in zh_CN and en."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from models.spec import ModelSpec
from server.app import create_app
from server.state import AppServices
from tests.fixtures_console import sign_in
from tests.fixtures_server import make_settings, running
from tests.fixtures_video import Clip

pytestmark = pytest.mark.asyncio(loop_scope="session")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
JOB_LINK = re.compile(r'href="/jobs/([0-9a-zA-Z_-]+)"')


class Console:
    def __init__(self, client: httpx.AsyncClient, services: AppServices, csrf: str) -> None:
        self.client, self.services, self.csrf = client, services, csrf

    async def dub(self, clip: Path, **fields: Any) -> httpx.Response:
        data = {
            "mode": "script",
            "languages": "zh",
            "keywords": "保温杯, 轻便, leak-proof",
            **fields,
        }
        with clip.open("rb") as f:
            return await self.client.post(
                "/dub",
                data=data,
                files={"file": (clip.name, f, "video/mp4")},
                headers={"X-CSRF-Token": self.csrf, "HX-Request": "true", **EN},
            )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(
    tmp_path_factory: pytest.TempPathFactory, video_model_specs: list[ModelSpec]
) -> AsyncIterator[Console]:
    app = create_app(make_settings(tmp_path_factory.mktemp("console_dub"), video_model_specs))
    async with running(app) as client:
        csrf = await sign_in(client, page="/dub")
        yield Console(client, app.state.services, csrf)


@pytest.mark.parametrize(
    ("headers", "words"),
    [(EN, ["Dub a video", "Start dubbing"]), (ZH, ["视频配音", "开始配音"])],
)
async def test_the_dub_and_jobs_pages_render_in_both_languages(
    console: Console, headers: dict[str, str], words: list[str]
) -> None:
    page = await console.client.get("/dub", headers=headers)
    assert page.status_code == 200
    assert all(word in page.text for word in words)
    assert 'id="dub-form"' in page.text and 'id="dropzone"' in page.text
    assert re.search(r'name="languages" value="zh" checked', page.text)
    assert re.search(r'name="languages" value="en" checked', page.text)
    assert 'data-max-upload="' in page.text and "/static/console/dub.js" in page.text
    jobs = await console.client.get("/jobs", headers=headers)
    assert jobs.status_code == 200 and words[0] in jobs.text


async def test_the_posts_need_the_csrf_token(console: Console, clips: dict[str, Clip]) -> None:
    with clips["portrait_silent"].path.open("rb") as f:
        refused = await console.client.post(
            "/dub", data={"languages": "zh"}, files={"file": ("a.mp4", f, "video/mp4")}
        )
    assert refused.status_code == 403 and 'data-code="csrf_failed"' in refused.text
    cancel = await console.client.post("/jobs/nope/cancel", headers=ZH)
    assert cancel.status_code == 403 and "csrf_failed" in cancel.text


async def test_a_bad_file_is_reported_on_the_page_in_the_viewers_language(
    console: Console, bad_media: dict[str, Path]
) -> None:
    with bad_media["text"].open("rb") as f:
        page = await console.client.post(
            "/dub",
            data={"languages": "zh", "keywords": "杯子", "csrf_token": console.csrf},
            files={"file": ("notes.mp4", f, "video/mp4")},
            headers=ZH,
        )
    assert page.status_code == 400
    assert 'data-code="invalid_video"' in page.text and "notes.mp4" in page.text
    assert "无法读取该文件" in page.text and 'id="dub-form"' in page.text  # the form, to retry


async def test_the_form_makes_a_job_and_its_page_follows_it_to_the_end(
    console: Console, clips: dict[str, Clip]
) -> None:
    made = await console.dub(clips["portrait_silent"].path)
    assert made.status_code == 200, made.text
    assert 'class="dub-result created"' in made.text
    job_id = JOB_LINK.search(made.text).group(1)  # type: ignore[union-attr]
    page = await console.client.get(f"/jobs/{job_id}", headers=ZH)
    assert page.status_code == 200 and job_id in page.text and 'id="progress"' in page.text
    events: list[str] = []
    async with asyncio.timeout(180):
        async with console.client.stream("GET", f"/jobs/{job_id}/events", headers=EN) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                events.append(line)
    text = "\n".join(events)
    assert "event: job" in text and 'data: <p id="job-state"' in text
    assert [e for e in events if e][-2:] == ["event: end", "data: "]
    assert 'data-state="succeeded"' in text and "qa-verdict" in text

    done = (await console.client.get(f"/jobs/{job_id}", headers=ZH)).text
    assert 'class="qa-verdict qa-' in done and "需人工检查" in done  # a keyword script: review
    # each voiced line beside what it says in Chinese; English left in a Chinese line is marked
    script = (await console.client.get(f"/jobs/{job_id}/files/zh.script.json")).json()
    rows = re.findall(r'<tr class="dub-line line-(\w+)"', done)
    assert len(rows) == len(script["lines"]) and "每一句台词" in done
    english = [line["text"] for line in script["lines"] if re.search("[a-z]{2}", line["text"])]
    assert english and "pass" not in rows and "译文中有未翻译的词" in done, script
    assert (
        f'<video class="preview" controls preload="metadata" src="/jobs/{job_id}/files/zh.mp4"'
        in done
    )
    assert f'<track kind="subtitles" src="/jobs/{job_id}/files/zh.vtt"' in done
    for name in ("zh.mp4", "zh.srt", "zh.vtt", "zh.script.json"):
        assert f'download="{name}"' in done
    assert f'href="/jobs/{job_id}/edit"' in done and 'id="cancel-job"' not in done

    part = await console.client.get(f"/jobs/{job_id}/files/zh.mp4", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 0-99/")
    assert part.headers["content-type"] == "video/mp4"

    again = await console.client.post(
        f"/jobs/{job_id}/cancel", headers={"X-CSRF-Token": console.csrf, "HX-Request": "true", **ZH}
    )
    assert again.status_code == 409 and "这个任务已经完成" in again.text
    assert (await console.client.get(f"/jobs/{job_id}")).status_code == 200  # not deleted

    listed = (await console.client.get("/jobs", params={"type": "video_dubbing"})).text
    assert f'data-job-id="{job_id}"' in listed
    failed = (await console.client.get("/jobs", params={"state": "failed"})).text
    assert f'data-job-id="{job_id}"' not in failed


async def test_cancelling_twice_says_it_was_already_cancelled(
    console: Console, clips: dict[str, Clip]
) -> None:
    made = await console.dub(clips["portrait_silent"].path)
    job_id = JOB_LINK.search(made.text).group(1)  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": console.csrf, "HX-Request": "true", **ZH}
    first = await console.client.post(f"/jobs/{job_id}/cancel", headers=headers)
    assert first.status_code == 200 and "任务已取消" in first.text
    second = await console.client.post(f"/jobs/{job_id}/cancel", headers=headers)  # another tab
    assert second.status_code == 409 and "这个任务已经取消过了" in second.text
    page = await console.client.get(f"/jobs/{job_id}", headers=EN)
    assert 'data-state="cancelled"' in page.text and "sse-connect" not in page.text


async def test_unknown_and_other_tenants_jobs_are_404_and_show_nothing(console: Console) -> None:
    other = await console.services.jobs.store.create(
        tenant="someone-else",
        type="video_dubbing",
        resource="media",
        input={"languages": ["en"], "keywords": ["secret gadget"]},
        stage_count=7,
    )
    assert other is not None
    for job_id in (other.id, "no-such-job"):
        for path in ("", "/events", "/files/en.mp4"):
            page = await console.client.get(f"/jobs/{job_id}{path}", headers=ZH)
            assert page.status_code == 404, path
            assert "secret gadget" not in page.text and "someone-else" not in page.text
            assert 'data-code="job_not_found"' in page.text and "没有这个任务" in page.text
    cancel = await console.client.post(
        f"/jobs/{other.id}/cancel", headers={"X-CSRF-Token": console.csrf, **ZH}
    )
    assert cancel.status_code == 404 and "secret gadget" not in cancel.text
    listed = (await console.client.get("/jobs")).text
    assert other.id not in listed


async def test_the_cue_editor_redubs_edited_lines_as_a_new_job(
    console: Console, clips: dict[str, Clip]
) -> None:
    made = await console.dub(clips["portrait_silent"].path)
    job_id = JOB_LINK.search(made.text).group(1)  # type: ignore[union-attr]
    jobs = console.services.jobs
    async with asyncio.timeout(180):
        while not (await jobs.get("default", job_id)).state.finished:
            await asyncio.sleep(0.2)
    page = await console.client.get(f"/jobs/{job_id}/edit", headers=ZH)
    assert page.status_code == 200 and "编辑字幕并重新配音" in page.text
    assert page.text.count('class="cue"') >= 1 and f'src="/jobs/{job_id}/files/zh.vtt"' in page.text
    headers = {"X-CSRF-Token": console.csrf, "HX-Request": "true", **ZH}

    async def redub(lines: str) -> httpx.Response:
        return await console.client.post(
            f"/jobs/{job_id}/redub", data={"lines": lines}, headers=headers
        )

    not_json = await redub("{")
    assert not_json.status_code == 400 and 'data-code="invalid_value"' not in not_json.text
    nothing = await redub("{}")
    assert nothing.status_code == 400 and "请至少修改一行后再重新配音" in nothing.text
    overlapping = await redub(
        '{"zh": [{"start": 0.1, "end": 1.0, "text": "第一句"},'
        ' {"start": 0.5, "end": 1.2, "text": "第二句"}]}'
    )
    assert overlapping.status_code == 400 and "lines.zh[1].start" in overlapping.text
    unknown = await redub('{"fr": [{"start": 0.1, "end": 1.0, "text": "Bonjour"}]}')
    assert unknown.status_code == 400 and "该任务没有为这种语言配音" in unknown.text
    done = await redub('{"zh": [{"start": 0.1, "end": 1.2, "text": "新的一句话"}]}')
    assert done.status_code == 204, done.text
    new_id = done.headers["hx-redirect"].removeprefix("/jobs/")
    assert new_id != job_id
    redubbed = await jobs.get("default", new_id)
    assert redubbed.input["parent_job"] == job_id and redubbed.input["mode"] == "own"
    assert (await jobs.get("default", job_id)).state == "succeeded"  # the earlier version stays


async def test_only_a_finished_dub_can_be_edited(console: Console, clips: dict[str, Clip]) -> None:
    made = await console.dub(clips["portrait_silent"].path)
    job_id = JOB_LINK.search(made.text).group(1)  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": console.csrf, "HX-Request": "true", **ZH}
    await console.client.post(f"/jobs/{job_id}/cancel", headers=headers)
    page = await console.client.get(f"/jobs/{job_id}/edit", headers=ZH)
    assert page.status_code == 409 and 'data-code="job_has_no_dub"' in page.text
    assert "该任务没有生成配音" in page.text
