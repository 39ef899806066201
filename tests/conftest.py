"""Shared fixtures: each family of tiny real models lives in its own plugin module."""

pytest_plugins = [
    "tests.fixtures_chat",
    "tests.fixtures_server",
]
