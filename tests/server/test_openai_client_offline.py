"""The official openai client works unchanged against a live server, and nothing leaves the machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from models.offline import OFFLINE_ENV
from models.spec import ModelSpec
from server.app import create_app
from tests import netguard
from tests.fixtures_server import make_settings
from tests.live import live_server


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, tiny_chat_spec: ModelSpec) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("live"), [tiny_chat_spec])
    with live_server(create_app(settings)) as url:
        yield url


def test_openai_client_lists_models_chats_streams_and_completes_offline(base_url: str) -> None:
    netguard.connects.clear()
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["tiny-chat"]

    chat = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Hello"}], max_tokens=5, seed=1
    )
    assert chat.choices[0].finish_reason == "length" and chat.usage is not None
    assert chat.usage.completion_tokens == 5

    stream = client.chat.completions.create(
        model="tiny-chat",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=5,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == chat.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5

    completion = client.completions.create(
        model="tiny-chat", prompt="Bottle:", max_tokens=3, seed=1
    )
    assert completion.choices[0].finish_reason == "length"

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404

    assert netguard.connects, "the guard saw the client's own loopback connections"
    assert not [a for a in netguard.connects if not netguard.is_loopback(a[0])]
    assert not netguard.refused


def test_the_guard_refuses_connections_that_would_leave_the_machine() -> None:
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.settimeout(0.1)
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    netguard.refused.remove(("192.0.2.1", 443))  # deliberate: not a failure of the session


def test_serving_sets_every_offline_and_telemetry_switch(base_url: str) -> None:
    for name, value in OFFLINE_ENV.items():
        assert os.environ[name] == value


def test_public_bind_without_api_keys_is_refused_at_start_up(tmp_path: Path) -> None:
    env = os.environ | {"LOCALSHANG_MODEL_DIR": str(tmp_path), "LOCALSHANG_SERVER__API_KEYS": "[]"}
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without API keys" in result.stderr
