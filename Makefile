# The two commands the README starts with: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STATE ?= .cache/state
# Offline machines (CI, this workplace): use the model mirror beside the checkout when present.
export BODYPIX_MODEL_MIRROR ?= $(wildcard $(CURDIR)/../shared/models/bodypix)

.PHONY: run test setup test-tools lint typecheck pytest test-sanitizers

# Sets up the virtual environment (with the conversion stack) and runs the panel with a live
# processed preview; with no camera it uses the built-in demo source.
run: setup
	$(VENV)/bin/bodypix serve --state-dir $(STATE)

setup:
	bash scripts/setup-dev.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

pytest:
	$(VENV)/bin/python -m pytest

# The CUDA kernels on the host executor built with AddressSanitizer + UBSan (seconds): an
# out-of-bounds access or undefined behaviour in a .cu file fails here, not on a Jetson.
# The sanitized library needs libasan loaded first, hence the preload into this one process;
# --capture=sys leaves stderr alone so a sanitizer report is printed before the process dies.
test-sanitizers:
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 BODYPIX_CUDA_SANITIZE=1 \
	BODYPIX_CUDA_TEST_EXECUTORS=host \
	$(PY) -m pytest -q -p no:cacheprovider --capture=sys tests/runtime/cuda/test_kernels.py tests/runtime/cuda/test_quality.py \
		tests/runtime/cuda/test_threads.py

test-tools:
	bash scripts/setup-dev.sh --test-tools

# The whole test suite: lint, types, tests (what .ci/run runs).
test: test-tools lint typecheck pytest test-sanitizers
