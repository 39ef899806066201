"""Pytest plugin: a throwaway Redis (Debian's `redis-server`, started once per session on a free
loopback port, nothing persisted) and `redis_url`, an emptied database of it for one test."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.netguard import free_port

MISSING = "redis-server is not installed: run `make system`, which installs Debian's redis-server"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis server that lives as long as the test session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = folder / "redis.log"
    process = subprocess.Popen(
        [binary, "--save", "", "--appendonly", "no", "--port", str(port),
         "--bind", "127.0.0.1", "--dir", str(folder), "--logfile", str(log)],
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        pytest.fail(f"redis-server did not start (exit {process.poll()}): {tail}", pytrace=False)
    finally:
        client.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied: no count of an earlier test is left in it."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server
