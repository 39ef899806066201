"""Shared fixtures: each family of tiny real models lives in its own plugin module."""

pytest_plugins = [
    "tests.fixtures_chat",
    "tests.fixtures_server",
    "tests.fixtures_real",
    "tests.fixtures_stt",
    "tests.fixtures_tts",
    "tests.fixtures_video",
    "tests.fixtures_jobs",
]
