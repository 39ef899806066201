"""An API node of a fleet (jobs.role api) needs no model's weights to answer metadata or take a
dubbing job: voices and languages come from the config and the models' files where they are,
and a job's voices are checked on the worker that has the weights. No engine is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.settings import DEFAULT_CONFIG, load_settings
from server.app import create_app
from tests.fixtures_jobs import serve_in_process
from tests.fixtures_postgres import NewDatabase, upgrade_database
from tests.fixtures_video import Clip


@pytest.mark.postgresql
async def test_an_api_node_without_tts_weights_queues_a_dub_and_lists_languages(
    tmp_path: Path, new_postgresql_database: NewDatabase, clips: dict[str, Clip]
) -> None:
    database = new_postgresql_database()
    await upgrade_database(database)
    # the default config's models, on a node whose model folder is empty: no weights at all
    settings = load_settings(
        DEFAULT_CONFIG, model_dir=tmp_path / "no-models", data_dir=tmp_path / "data"
    )
    settings.registry.preload = []
    settings.jobs.role, settings.jobs.database = "api", database
    async with serve_in_process(create_app(settings)) as client:
        listed = await client.get("/v1/languages")
        assert listed.status_code == 200, listed.text
        zh = next(lang for lang in listed.json()["data"] if lang["code"] == "zh")
        # Kokoro's voice as its config declares it; espeak-ng (no weights) as it lists its own
        assert {"model": "kokoro-82m", "voice": "zh:jm_kumo"} in zh["tts"]["voices"]
        assert {"model": "espeak-ng", "voice": "cmn"} in zh["tts"]["voices"]
        assert zh["asr"]["models"] == ["whisper-base"]  # Whisper's own languages

        clip = clips["landscape_speech"].path
        with clip.open("rb") as f:
            dub = await client.post(
                "/v1/video/dubbings",
                data={"languages": "zh,en", "keywords": "steel bottle, cold 24 h"},
                files={"file": (clip.name, f, "video/mp4")},
            )
        assert dub.status_code == 200, dub.text
        job = dub.json()
        assert job["state"] == "queued"  # for a worker node, which has the weights
        assert job["input"]["tts_models"] == {"zh": "kokoro-82m", "en": "piper-joe"}

        models = (await client.get("/v1/models")).json()["data"]
        assert not any(model["loaded"] for model in models)
