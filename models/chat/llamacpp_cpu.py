"""llama.cpp's CPU code, chosen for the CPU at run time from the variants the wheel carries."""

from __future__ import annotations

import ctypes
import functools
import logging
import re
from pathlib import Path

import llama_cpp

log = logging.getLogger(__name__)


@functools.cache
def load_cpu_variant() -> str | None:
    """Load the best of the wheel's CPU code variants for this CPU, once per process.

    The wheel (scripts/build_llama_cpp.py) carries llama.cpp's CPU code compiled once per
    instruction-set level (libggml-cpu-x64.so, -haswell.so, -skylakex.so...) and nothing linked
    in: ggml scores each against the CPU's flags and registers the best, so one wheel runs on
    any x86-64 CPU at the speed of a native build. Returns that variant's name, or None for a
    wheel with its CPU code linked in (built without GGML_BACKEND_DL, e.g. a CUDA build)."""
    lib_dir = Path(llama_cpp.llama_cpp._base_path)
    if not any(lib_dir.glob("libggml-cpu-*.so")):
        return None
    # the libggml that libllama loaded (libggml.so.0): the wheel's libggml.so is another copy of
    # the file, and a backend registered in that copy is one libllama never sees
    (linked,) = set(re.findall(r"\s(/\S+/libggml\.so\.\d+)$", _memory_map(), re.MULTILINE))
    ggml = ctypes.CDLL(linked)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(str(lib_dir).encode())
    # ggml does not say which one it chose; the process's memory map does
    loaded = re.findall(r"libggml-cpu-([\w.]+)\.so", _memory_map())
    if not loaded:
        raise RuntimeError(f"no llama.cpp CPU variant in {lib_dir} runs on this CPU")
    log.info("llama.cpp CPU code: %s (from %s)", loaded[0], lib_dir)
    return loaded[0]


def _memory_map() -> str:
    return Path("/proc/self/maps").read_text()
