"""scripts/gpu_smoke.sh runs on the CPU with --cpu: the same code a lent GPU runs, device aside."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures_real import models_cache_dir

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_smoke_script_streams_chat_and_transcribes_on_the_cpu() -> None:
    script = ROOT / "scripts" / "gpu_smoke.sh"
    small = ["--cpu", "--streams", "3", "--tokens", "8"]
    # the test models' cache: the tiny Whisper the other tests build is found there
    done = subprocess.run(
        [str(script), *small, "--models", str(models_cache_dir())],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"PYTHON": sys.executable},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"chat: 3 concurrent streams x 8 tokens .* tokens/s .* peak RSS", done.stdout)
    assert re.search(r"whisper: CTranslate2 \S+ on cpu .*x real time", done.stdout), done.stdout
