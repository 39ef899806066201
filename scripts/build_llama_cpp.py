"""Build the llama-cpp-python wheel that runs, and runs fast, on any x86-64 CPU.

    python scripts/build_llama_cpp.py            # prints the path of the (cached) wheel
    python scripts/build_llama_cpp.py --install  # and installs it, unless it is installed already

llama.cpp's own releases compile its CPU code once per instruction-set level and pick the best
one at run time (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS); a wheel built that way is the same on
every machine, so pip's wheel cache (keyed by the sdist, not by the CPU) can never hand an
AVX-512 build to an AVX2 machine. All 14 x86 variants take ~35 min on 2 cores, so the variant
list is cut to the levels that matter for speed; the ones left out fall back to the next level
down (an AVX-VNNI or AVX512-BF16 CPU runs the AVX2 or AVX-512 code, as the old fixed build did):

    x64       any x86-64 (SSE2): correct everywhere, slow
    haswell   AVX2 FMA F16C BMI2: most AMD before Zen 4 and cloud VMs without AVX-512
    skylakex  + AVX-512 F/CD/VL/DQ/BW: the fixed build this replaces
    icelake   + AVX512-VBMI, AVX512-VNNI: Ice Lake and newer Xeons, Zen 4 and 5

Never AMX (sapphirerapids): a virtual CPU that reports AMX crashed llama_decode here. The backend
loads the variants at run time (models/chat/llamacpp_backend.py, `load_cpu_variants`).
The sdist is fetched by pip (a source package by design: it is compiled here) and checked
against its sha256 before it is unpacked.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
VARIANTS = {
    "x64": "",
    "haswell": "SSE42 AVX F16C FMA AVX2 BMI2",
    "skylakex": "SSE42 AVX F16C FMA AVX2 BMI2 AVX512",
    "icelake": "SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI",
}
CMAKE_ARGS = (
    "-DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF "
    # the multimodal tools (llava/mtmd) are not used here: not compiled
    "-DLLAVA_BUILD=OFF "
    # the variants go beside libggml.so in the package (ggml's default, bin/, would put them at
    # the top of site-packages)
    "-DCMAKE_INSTALL_BINDIR=llama_cpp/lib"
)
# the x86 list in vendor/llama.cpp/ggml/src/CMakeLists.txt, from its first variant to the ARM one
_X86_LIST_START = (
    '    if (GGML_SYSTEM_ARCH STREQUAL "x86")\n        ggml_add_cpu_backend_variant(x64)\n'
)
_X86_LIST_END = '    elseif(GGML_SYSTEM_ARCH STREQUAL "ARM")\n'


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return base / "localshang" / "wheels" / f"llama-cpp-python-{VERSION}-{'-'.join(VARIANTS)}"


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _variant_list() -> str:
    lines = [
        f"        ggml_add_cpu_backend_variant({name} {flags})\n"
        for name, flags in VARIANTS.items()
    ]
    return '    if (GGML_SYSTEM_ARCH STREQUAL "x86")\n' + "".join(lines).replace(" )", ")")


def restrict_variants(cmake_lists: Path) -> None:
    """Replace the x86 variant list of ggml's CMakeLists.txt with VARIANTS."""
    text = cmake_lists.read_text()
    start = text.find(_X86_LIST_START)
    end = text.find(_X86_LIST_END, start)
    if start < 0 or end < 0 or text.count(_X86_LIST_START) != 1:
        raise SystemExit(f"{cmake_lists}: the x86 variant list is not where it was in {VERSION}")
    cmake_lists.write_text(text[:start] + _variant_list() + text[end:])


def build(out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="llama-cpp-build-") as scratch:
        work = Path(scratch)
        pip = [sys.executable, "-m", "pip"]
        wanted = f"llama-cpp-python=={VERSION}"
        download = ["download", "-q", "--no-deps", "--no-binary=:all:", "-d", str(work), wanted]
        subprocess.run([*pip, *download], check=True)
        sdist = work / f"llama_cpp_python-{VERSION}.tar.gz"
        if _sha256(sdist) != SDIST_SHA256:
            raise SystemExit(f"{sdist.name}: sha256 {_sha256(sdist)} is not the pinned one")
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        source = work / f"llama_cpp_python-{VERSION}"
        restrict_variants(source / "vendor/llama.cpp/ggml/src/CMakeLists.txt")
        env = os.environ | {
            "CMAKE_ARGS": CMAKE_ARGS,
            "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1),
        }
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*pip, "wheel", "-q", "--no-deps", "--no-cache-dir", "-w", str(out), str(source)],
            check=True,
            env=env,
        )
    return wheel_in(out)


def wheel_in(folder: Path) -> Path:
    wheels = sorted(folder.glob(f"llama_cpp_python-{VERSION}-*.whl"))
    if not wheels:
        raise FileNotFoundError(folder)
    return wheels[-1]


def installed() -> bool:
    """This build is the installed llama_cpp (a wheel built another way has other libraries)."""
    found = subprocess.run(
        [sys.executable, "-c", "import llama_cpp, sys; sys.stdout.write(llama_cpp.__file__)"],
        capture_output=True,
        text=True,
    )
    lib_dir = Path(found.stdout).parent / "lib"
    return found.returncode == 0 and all(
        (lib_dir / f"libggml-cpu-{name}.so").exists() for name in VARIANTS
    )


def main() -> None:
    try:
        wheel = wheel_in(cache_dir())
    except FileNotFoundError:
        wheel = build(cache_dir())
    print(wheel)
    if "--install" in sys.argv[1:] and not installed():
        pip_install = [sys.executable, "-m", "pip", "install", "-q"]
        subprocess.run([*pip_install, str(wheel)], check=True)  # with its dependencies
        if not installed():  # pip kept a same-version wheel built with other flags
            subprocess.run([*pip_install, "--no-deps", "--force-reinstall", str(wheel)], check=True)


if __name__ == "__main__":
    main()
