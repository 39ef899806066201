"""The llama.cpp wheel runs on any x86-64 CPU: the chat model loads and answers on an emulated CPU
without AVX-512, whatever CPU runs the suite (a wheel built for AVX-512 dies there with SIGILL).

qemu-user (Debian's `qemu-user`, installed by `make system`) runs the venv's Python with the CPU
it is told to be; the guest sees that CPU's flags, so ggml must pick a variant the CPU has.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_real import unavailable

pytestmark = pytest.mark.real_weights

# the project's own loading code, as a server would run it: spec, backend, two greedy tokens
# (" 5"). The smallest real GGUF (SmolLM2-135M): emulated, the CPU runs a 0.5B model too slowly
# for a suite (each token takes minutes), and any model runs the variant's code from its load.
PROBE = """
import asyncio, json, sys
from pathlib import Path
from models.chat.base import SamplingOptions
from models.chat.llamacpp_backend import LlamaCppChat
from models.chat.llamacpp_cpu import load_cpu_variant
from models.spec import ModelSpec

folder = Path(sys.argv[1])
spec = ModelSpec(id="probe", kind="chat", backend="llama.cpp", path=str(folder),
                 licence="Apache-2.0", memory_gb=1,
                 options={"max_batch_size": 1, "context_length": 64, "n_batch": 16, "threads": 1})
chat = LlamaCppChat.load(spec, folder)

async def answer() -> str:
    options = SamplingOptions(max_tokens=2, temperature=0)
    return "".join([delta.text async for delta in chat.generate("1, 2, 3, 4,", options)])

text = asyncio.run(answer())
chat.close()
print(json.dumps({"variant": load_cpu_variant(), "text": text}))
"""


def run_as(cpu: str, model: Path) -> subprocess.CompletedProcess[str]:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        unavailable("qemu-x86_64 is not installed (Debian's qemu-user; `make system`)")
    return subprocess.run(
        [qemu, "-cpu", cpu, sys.executable, "-c", PROBE, str(model)],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=Path(__file__).parents[2],
    )


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the x86-64 variants only")
@pytest.mark.parametrize(
    ("cpu", "variant"),
    [("Haswell", "haswell")],  # AVX2, FMA, F16C, BMI2 and no AVX-512: most AMD before Zen 4
)
def test_a_chat_model_loads_and_answers_on_a_cpu_without_avx512(
    smollm2_dir: Path, cpu: str, variant: str
) -> None:
    done = run_as(cpu, smollm2_dir)
    # -4 is SIGILL: the wheel holds an instruction this CPU does not have
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["variant"] == variant
    assert result["text"].strip() == "5"
