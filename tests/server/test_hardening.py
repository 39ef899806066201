"""The HTTP edge against hostile or odd input: the access log cannot be forged, echoed values
are cut short, and models carry a real `created` date."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from models.spec import ModelSpec
from server.errors import MAX_ECHO
from tests.fixtures_server import AppClient, assert_error
from tests.fixtures_stt import tiny_whisper_spec

ACCESS_LINE = re.compile(
    r'request_id=(\w+) tenant=(\S+) method=(\w+) path=("(?:[^"\\]|\\.)*") status=(\d+) ms=[\d.]+'
)


async def test_a_path_with_cr_lf_and_quotes_stays_inside_one_access_log_field(
    app_client: AppClient, espeak_spec: ModelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    forged = 'x\r\nrequest_id=forged tenant=admin method=GET path="/v1/models" status=200 ms=1'
    with caplog.at_level("INFO", logger="localshang.access"):
        async with app_client([espeak_spec]) as client:
            response = await client.get("/v1/models/" + urllib.parse.quote(forged))
    assert_error(response, 404)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "localshang.access"]
    fields = ACCESS_LINE.fullmatch(line)
    assert fields is not None, line  # one line, every field where it belongs
    request_id, _, method, path, status = fields.groups()
    assert request_id == response.headers["x-request-id"]
    assert (method, status) == ("GET", "404")
    assert json.loads(path) == f"/v1/models/{forged}"  # the whole path, quoted and escaped


async def test_models_are_dated_by_their_weights_or_the_server_start(
    app_client: AppClient, espeak_spec: ModelSpec, tiny_whisper_dir: Path
) -> None:
    before = int(time.time())
    async with app_client([espeak_spec, tiny_whisper_spec(tiny_whisper_dir)]) as client:
        after = int(time.time())
        listed = {m["id"]: m["created"] for m in (await client.get("/v1/models")).json()["data"]}
        again = {m["id"]: m["created"] for m in (await client.get("/v1/models")).json()["data"]}
        one = (await client.get("/v1/models/tiny-whisper")).json()["created"]
    assert listed == again  # stable from call to call
    assert listed["tiny-whisper"] == one == int(tiny_whisper_dir.stat().st_mtime)
    assert before <= listed["espeak"] <= after  # no weights: when the server started


async def test_a_huge_value_is_cut_short_wherever_an_error_echoes_it(
    app_client: AppClient, espeak_spec: ModelSpec
) -> None:
    huge = "m" * 100_000
    speech = {"model": "espeak", "input": "Hi.", "voice": "en"}
    async with app_client([espeak_spec]) as client:
        answers = [
            (await client.get(f"/v1/models/{huge[:60_000]}"), 404),  # httpx's longest URL
            (await client.post("/v1/audio/speech", json=speech | {"model": huge}), 404),
            (await client.post("/v1/audio/speech", json=speech | {"voice": huge}), 400),
            (await client.post("/v1/jobs", json={"type": "translation", huge: {}}), 400),
        ]
    for response, status in answers:
        error = assert_error(response, status)
        assert len(response.content) < 2 * MAX_ECHO + 1000, response.text[:300]
        echoed = error["message"] + (error["param"] or "")
        assert "m" * MAX_ECHO + "…" in echoed and huge not in echoed
