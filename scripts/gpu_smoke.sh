#!/usr/bin/env bash
# GPU smoke test (scripts/gpu_smoke.py): the transformers chat backend with several concurrent
# streams and Whisper on CTranslate2, tiny random models built on the spot; tokens/s and memory.
#   scripts/gpu_smoke.sh [--cpu] [--streams N] [--tokens N]
# A machine with torch and transformers but no package index (a lent GPU) also needs pydantic
# and xgrammar, and CTranslate2 for the Whisper part: fetch their wheels where pip works, carry
# the folder (about 50 MB), and name it with LOCALSHANG_SMOKE_WHEELS there:
#   scripts/gpu_smoke.sh --fetch-wheels .whl              # here (Python 3.12, x86-64 Linux)
#   LOCALSHANG_SMOKE_WHEELS=.whl scripts/gpu_smoke.sh     # there
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

if [ "${1:-}" = "--fetch-wheels" ]; then
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "${2:?a folder for the wheels}" pydantic pydantic-core annotated-types typing-inspection \
        xgrammar apache-tvm-ffi ctranslate2
    exit 0
fi
if [ -n "${LOCALSHANG_SMOKE_WHEELS:-}" ]; then
    site=$(mktemp -d)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$site" \
        "$LOCALSHANG_SMOKE_WHEELS"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" -m scripts.gpu_smoke "$@"
