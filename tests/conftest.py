"""Shared fixtures (each family of tiny real models in its own plugin) and the offline guard."""

from __future__ import annotations

import pytest

from tests import netguard

pytest_plugins = [
    "tests.fixtures_chat",
    "tests.fixtures_server",
    "tests.fixtures_real",
    "tests.fixtures_stt",
    "tests.fixtures_tts",
    "tests.fixtures_video",
    "tests.fixtures_postgres",  # before fixtures_jobs, which imports it
    "tests.fixtures_jobs",
    "tests.fixtures_tenancy",
    "tests.fixtures_browser",
    "tests.fixtures_default",
    "tests.fixtures_console",
    "tests.fixtures_redis",
]

netguard.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if netguard.refused:
        print(f"\nnon-loopback connections were attempted: {netguard.refused}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
