# The two commands the README starts with: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STATE ?= .cache/state
# Offline machines (CI, this workplace): use the model mirror beside the checkout when present.
export BODYPIX_MODEL_MIRROR ?= $(wildcard $(CURDIR)/../shared/models/bodypix)

.PHONY: run test setup test-tools lint typecheck pytest

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

test-tools:
	bash scripts/setup-dev.sh --test-tools

# The whole test suite: lint, types, tests (what .ci/run runs).
test: test-tools lint typecheck pytest
