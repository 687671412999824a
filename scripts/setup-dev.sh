#!/usr/bin/env bash
# Creates .venv with the project (conversion stack and dev tools). With --test-tools it also
# installs what the tests drive for real: Chromium (panel test), systemd (unit verification),
# the ShellCheck linter, and the official TensorFlow.js BodyPix in tools/reference (npm).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

if [ "${1:-}" = "--test-tools" ]; then
    need_apt=()
    command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-liberation)  # fonts: a Recommends, but screenshots need them
    command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
    command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
    if [ ${#need_apt[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: installing system packages: ${need_apt[*]}"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
        else
            echo "setup: missing ${need_apt[*]} (install them with your package manager); the tests that need them skip" >&2
        fi
    fi

    # The official TensorFlow.js BodyPix library, run in Node by the tests that compare with it.
    if command -v npm >/dev/null 2>&1 && [ ! -d tools/reference/node_modules ]; then
        npm ci --prefix tools/reference --no-audit --no-fund --loglevel=error \
            || echo "setup: npm ci in tools/reference failed; the TensorFlow.js comparison skips" >&2
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[convert,dev]"
    # Type stubs for the TensorRT 10 API; --no-deps because it requires the `tensorrt`
    # meta-package, which downloads from NVIDIA's index at install time.
    "$VENV/bin/python" -m pip install -q --no-deps "tensorrt-stubs==10.13.0.35.1"
    touch "$stamp"
fi
