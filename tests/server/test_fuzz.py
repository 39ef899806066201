"""Schemathesis against the server's own OpenAPI schema: no 5xx, every error OpenAI-shaped.

The requests go in-process (ASGI) to the real app (create_app) with the tiny models (chat,
Whisper, espeak-ng) and the job system, video dubbing included. Each operation gets a small,
fixed number of generated requests (derandomized), so a run is repeatable and short.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans

from models.spec import ModelSpec
from server.app import create_app
from tests.fixtures_server import make_settings
from tests.fixtures_stt import tiny_whisper_spec

# Fields that get a request past its first checks (a model that exists, a voice it has...),
# by the path prefix of the operations that take them.
KNOWN_GOOD: dict[str, dict[str, Any]] = {
    "/v1/audio/speech": {"model": "espeak", "voice": "en"},
    "/v1/audio/": {"model": "tiny-whisper"},
    "/v1/chat/": {"model": "tiny-chat"},
    "/v1/completions": {"model": "tiny-chat"},
    "/v1/video/dubbings": {"languages": ["en"], "voices": "{}", "glossary_entries": "[]"},
}


def _route_table_schema() -> dict[str, Any]:
    """The OpenAPI document of the route table; it does not depend on the models configured.

    Loaded at import so that pytest can name one test per operation (schemathesis's
    fixture-loaded schemas do not work with this pytest); the test checks it is the
    document the fuzzed app serves.
    """
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(make_settings(Path(tmp), [])).openapi()


# The coverage phase sends hundreds of boundary cases per operation whatever max_examples
# says; the examples and fuzzing phases (positive and negative data) stay bounded.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(_route_table_schema(), config=CONFIG)


# Operations that generate text: the tiny model writes at most this many tokens per call
# (answers of thousands of tokens, retried, would take minutes on a CPU and test nothing more).
GENERATING = {
    "/v1/chat/completions": ("max_tokens", "max_completion_tokens"),
    "/v1/completions": ("max_tokens",),
    "/v1/copywriting": ("max_tokens",),
}
MAX_TOKENS = 16


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Half the bodies get KNOWN_GOOD fields, so that requests go deeper than the first check."""
    path = context.operation.path
    if not isinstance(body, dict):
        return st.just(body)
    capped = {k: MAX_TOKENS for k in GENERATING.get(path, ()) if _unbounded(body.get(k))}
    body = {**body, **capped}
    good = next((fields for p, fields in KNOWN_GOOD.items() if path.startswith(p)), None)
    return st.sampled_from([body, {**body, **good}]) if good else st.just(body)


def _unbounded(value: Any) -> bool:
    return value is None or (type(value) is int and value > MAX_TOKENS)


def test_uploads_are_documented_as_multipart_with_a_binary_file_and_ids_are_unique() -> None:
    document = schema.raw_schema
    operations = [op for path in document["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations", "/v1/video/dubbings"):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        assert list(content) == ["multipart/form-data"], path
        form = content["multipart/form-data"]["schema"]
        if "$ref" in form:
            form = document["components"]["schemas"][form["$ref"].rsplit("/", 1)[-1]]
        assert "file" in form["required"], path
        file = form["properties"]["file"]
        assert file.get("format") == "binary" or "contentMediaType" in file, path


@pytest.fixture(scope="module")
def fuzz_app(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_chat_spec: ModelSpec,
    espeak_spec: ModelSpec,
    tiny_whisper_dir: Path,
) -> Iterator[FastAPI]:
    specs = [tiny_chat_spec, espeak_spec, tiny_whisper_spec(tiny_whisper_dir)]
    # schemathesis's ASGI client sends Host: testserver, a name a keyless server answers only
    # when it is allowed (server.request_guard)
    settings = make_settings(tmp_path_factory.mktemp("fuzz"), specs, allowed_hosts=["testserver"])
    app = create_app(settings)
    assert app.openapi() == schema.raw_schema
    yield app
    shutdown_lifespans()  # schemathesis ran the app's lifespan on an event loop of its own


def openai_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answers `{"error": {"message", "type", "param", "code"}}` (HEAD: no body)."""
    if not 400 <= response.status_code < 500 or case.method.upper() == "HEAD":
        return None
    try:
        error = response.json()["error"]
        shaped = set(error) == {"message", "type", "param", "code"}
        shaped = shaped and isinstance(error["message"], str) and bool(error["message"])
        shaped = shaped and isinstance(error["type"], str)
    except (ValueError, KeyError, TypeError):
        shaped = False
    if not shaped:
        raise AssertionError(
            f"{response.status_code} without an OpenAI-shaped error body: "
            f"{response.text_lossy[:300]}"
        )
    return True


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_without_5xx_and_with_openai_shaped_errors(
    case: Any, fuzz_app: FastAPI
) -> None:
    case.call_and_validate(
        app=fuzz_app, timeout=120, checks=[not_a_server_error, openai_error_shape]
    )
