"""Dockerfile.gpu builds what it claims: its COPY sources exist, it installs extras the project
defines, it imports every engine before the image is done, and it leaves offline to run time.

No docker daemon runs on the development or CI machines, so the image itself is not built here.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from pathlib import Path

from dockerfile_parse import DockerfileParser

from models.registry import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def instructions(kind: str) -> list[str]:
    with (ROOT / "Dockerfile.gpu").open("rb") as f:
        parsed = DockerfileParser(fileobj=f)
        return [i["value"] for i in parsed.structure if i["instruction"] == kind]


def copied() -> list[tuple[str, str]]:
    """(source, destination) of every COPY."""
    pairs = []
    for value in instructions("COPY"):
        words = [w for w in shlex.split(value) if not w.startswith("--")]
        pairs += [(source, words[-1]) for source in words[:-1]]
    return pairs


def test_every_copy_source_exists_and_every_package_is_copied() -> None:
    sources = [source for source, _ in copied()]
    for source in sources:
        assert (ROOT / source).exists(), source
    packages = {
        name.rstrip("*") for name in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= set(sources)
    assert "pyproject.toml" in sources and "configs" in sources


def test_the_image_config_and_extras_are_the_projects() -> None:
    with (ROOT / "Dockerfile.gpu").open("rb") as f:
        env = DockerfileParser(fileobj=f).envs
    config = Path(env["LOCALSHANG_CONFIG"]).relative_to("/app")
    assert (ROOT / config).is_file()
    installs = [re.search(r"'\.\[([\w,-]+)\]'", run) for run in instructions("RUN")]
    (extras,) = [m.group(1).split(",") for m in installs if m]
    assert "vllm" in extras and set(extras) <= set(PYPROJECT["project"]["optional-dependencies"])


def test_offline_is_left_to_the_server_so_models_pull_reaches_the_hub() -> None:
    with (ROOT / "Dockerfile.gpu").open("rb") as f:
        env = DockerfileParser(fileobj=f).envs
    assert not {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"} & set(env)


def test_the_build_imports_the_app_and_every_engine() -> None:
    (check,) = [run for run in instructions("RUN") if 'python -c "import ' in run]
    modules = re.search(r'python -c "import ([^"]+)"', check)
    assert modules is not None
    imported = {name.strip() for name in modules.group(1).split(",")}
    engines = {target.partition(":")[0] for target in BACKENDS.values()}
    assert engines | {"server.app"} <= imported
    for name in imported:
        assert importlib.util.find_spec(name) is not None, name
