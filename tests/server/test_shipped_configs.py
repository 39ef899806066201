"""Every shipped server config (configs/*.yaml with a model table) runs every workflow: chat,
embeddings, speech-to-text, speech in each language it is rated for, translation, copywriting,
and a dub in each mode accepted with the config's own models; over HTTP, on the config's model
table, registry and limits.

What is absent here is stood in for by a model of the same kind, under the entry's own id,
aliases, memory and server-side options (reasoning_parser, tool_parser), so that every name a
request or workflow resolves is the config's:
- chat: always the tiny random Qwen2 on transformers. The real weights of the embedded default
  go through every workflow in tests/test_default_workflows.py; GPU models cannot run here.
- asr: the entry itself where its weights are in the test cache and it runs on a CPU (Whisper
  base), else the tiny random Whisper (large-v3 on CUDA).
- tts, embedding: the entries themselves (espeak-ng, Piper, Kokoro, e5 all run on a CPU).
The configs' databases, Redis and data folders are replaced by this test's own (tested in
tests/pipelines/platform); configs whose model tables and registries are equal share one app.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml

from models.spec import ModelSpec
from pipelines.coverage import load_ratings
from pipelines.settings import DEFAULT_CONFIG, Settings, load_settings
from server.app import create_app
from tests.fixtures_real import models_cache_dir
from tests.fixtures_server import running
from tests.fixtures_tts import decode
from tests.fixtures_video import make_clip

pytestmark = pytest.mark.real_weights

CONFIGS = [
    path
    for path in sorted(DEFAULT_CONFIG.parent.glob("*.yaml"))
    if isinstance(yaml.safe_load(path.read_text(encoding="utf-8")).get("models"), list)
]
# the languages every config must dub: the merchant's own and the world's trade language
BASE_LANGUAGES = ("zh", "en")
SPEECH = "Stainless steel bottle, five hundred millilitres, three dollars twenty."
PRODUCT = {"name": "Stainless steel bottle", "price": "USD 3.20", "keywords": ["500 ml"]}
Serve = Callable[[Path], Awaitable[httpx.AsyncClient]]


def test_the_server_configs_are_found() -> None:
    assert {"default.yaml", "gpu.yaml", "cluster.yaml"} <= {c.name for c in CONFIGS}


def stand_in(spec: ModelSpec, tiny_chat: ModelSpec, tiny_asr: ModelSpec) -> ModelSpec:
    """`spec` as it is where it can run here, else the tiny model of its kind in its place."""
    keep = {"id", "aliases", "memory_gb", "licence"}
    if spec.kind == "chat":
        server_side = {k: v for k, v in spec.options.items() if k.endswith("_parser")}
        return tiny_chat.model_copy(
            update={k: getattr(spec, k) for k in keep}
            | {"options": tiny_chat.options | server_side}
        )
    weights = spec.resolve_path(models_cache_dir())
    if spec.kind == "asr" and (spec.options.get("device") == "cuda" or not weights.exists()):
        return tiny_asr.model_copy(update={k: getattr(spec, k) for k in keep})
    return spec


def rated_languages(settings: Settings) -> list[str]:
    """zh, en, the languages given a TTS model, and those the first chat model is measured
    usable in."""
    chat = next(spec.id for spec in settings.models if spec.kind == "chat")
    book = load_ratings(settings.language_ratings)
    ratings = book.models.get(chat)
    measured = [
        code
        for code, score in (ratings.languages.items() if ratings else ())
        if score.rating != "unusable"
    ]
    return list(dict.fromkeys([*BASE_LANGUAGES, *settings.registry.tts_by_language, *measured]))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def serve(
    tiny_chat_spec: ModelSpec,
    video_asr_spec: ModelSpec,
    whisper_base_dir: Path,
    piper_voice_dir: Path,
    kokoro_spec: ModelSpec,
    e5_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Serve]:
    """`await serve(config)`: an HTTP client of the app built from `config` with stand-ins."""
    apps: dict[str, httpx.AsyncClient] = {}
    async with AsyncExitStack() as stack:

        async def client_for(config: Path) -> httpx.AsyncClient:
            settings = load_settings(
                config,
                model_dir=models_cache_dir(),
                data_dir=tmp_path_factory.mktemp(config.stem),
                jobs={"database": None},
                server={"rate_limit_storage": "memory://", "host": "127.0.0.1"},
            )
            settings.models = [stand_in(s, tiny_chat_spec, video_asr_spec) for s in settings.models]
            settings.registry.preload = []
            key = json.dumps(
                [[s.model_dump() for s in settings.models], settings.registry.model_dump()],
                sort_keys=True,
                default=str,
            )
            if key not in apps:
                client = await stack.enter_async_context(running(create_app(settings)))
                client.timeout = httpx.Timeout(300)
                apps[key] = client
            return apps[key]

        yield client_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "bottle.mp4", seconds=3.0, speech=SPEECH)


def ids(config: Path) -> str:
    return config.name


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
async def test_config_answers_chat_embeddings_and_transcriptions(
    serve: Serve, config: Path, speech_clips: dict[str, Path]
) -> None:
    client = await serve(config)
    chat = await client.post(
        "/v1/chat/completions",
        json={"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["usage"]["completion_tokens"] > 0
    embedded = await client.post(
        "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": ["steel bottle", "保温杯"]},
    )
    assert embedded.status_code == 200, embedded.text
    vectors = [item["embedding"] for item in embedded.json()["data"]]
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0
    with speech_clips["wav"].open("rb") as f:
        heard = await client.post(
            "/v1/audio/transcriptions",
            files={"file": ("speech.wav", f, "audio/wav")},
            data={"model": "whisper-1", "response_format": "verbose_json"},
        )
    assert heard.status_code == 200, heard.text
    assert heard.json()["segments"], heard.text


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
async def test_config_speaks_every_language_it_is_rated_for(serve: Serve, config: Path) -> None:
    client = await serve(config)
    for code in rated_languages(load_settings(config)):
        spoken = await client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": code, "input": "3.20", "response_format": "wav"},
        )
        assert spoken.status_code == 200, f"{code}: {spoken.text}"
        _, _, rate, samples = decode(spoken.content, "wav")
        assert len(samples) > rate * 0.2 and abs(samples).max() > 0.01, code


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
async def test_config_translates_and_writes_copy(serve: Serve, config: Path) -> None:
    """The tiny model writes garbage: each line is translated or reported failed, the copy is
    valid or refused after its attempts; never a missing model or a server error."""
    client = await serve(config)
    translated = await client.post(
        "/v1/translations",
        json={
            "text": "Steel bottle, USD 3.20",
            "target_languages": list(BASE_LANGUAGES),
            "max_attempts": 1,
            "on_failure": "report",
        },
    )
    assert translated.status_code == 200, translated.text
    for item in translated.json()["translations"]:
        assert item["status"] == "ok" or item["failures"], item
    copy = await client.post(
        "/v1/copywriting",
        json={"product": PRODUCT, "target_languages": ["en"], "max_attempts": 1, "max_tokens": 48},
    )
    assert copy.status_code in (200, 422), copy.text
    if copy.status_code == 422:
        assert copy.json()["error"]["code"] == "copy_validation_failed"


MODES: dict[str, dict[str, str]] = {
    "script": {"keywords": "steel bottle,500 ml"},
    "translate": {"source_language": "en"},
    "own": {"scripts": json.dumps({code: "A steel bottle." for code in BASE_LANGUAGES})},
}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
async def test_config_accepts_a_dub_in_every_mode_with_its_own_models(
    serve: Serve, config: Path, clip: Path
) -> None:
    """A dub resolves every model its stages use at submission (chat, ASR, the TTS model and
    voice of each language) and refuses what it lacks, so an accepted job names the config's
    models. The dubs themselves run in tests/pipelines/video (tiny models, each mode) and
    tests/test_default_workflows.py (real weights); a few minutes each on 2 cores, they are
    cancelled here."""
    client = await serve(config)
    settings = load_settings(config)
    chat, asr = (next(s.id for s in settings.models if s.kind == kind) for kind in ("chat", "asr"))
    tts = settings.registry.tts_by_language
    for mode, fields in MODES.items():
        with clip.open("rb") as f:
            submitted = await client.post(
                "/v1/video/dubbings",
                files={"file": ("bottle.mp4", f, "video/mp4")},
                data={"mode": mode, "languages": ",".join(BASE_LANGUAGES), **fields},
            )
        assert submitted.status_code in (200, 202), f"{mode}: {submitted.text}"
        job = submitted.json()
        assert (job["input"]["chat_model"], job["input"]["asr_model"]) == (chat, asr), mode
        assert job["input"]["tts_models"] == {code: tts[code] for code in BASE_LANGUAGES}
        cancelled = await client.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200, cancelled.text
