#!/usr/bin/env bash
# The CUDA frame path on a lent NVIDIA GPU, in one go and within 8 minutes:
#   1. checks the machine (nvcc, the driver) and the carried files;
#   2. builds pycuda from its source archive against this machine's CUDA (offline);
#   3. runs tests/runtime/cuda on the device executor (pycuda);
#   4. runs `bench --backend cuda` at 1280x720 and 1920x1080 for blur and replace, and at
#      1280x720 for blur with motion smoothing and guided edge refinement (issue 14's cost);
#   5. prints one JSON summary on stdout (per-kernel ms, mask + composite ms, achieved
#      bandwidth as a share of a device-to-device copy, test counts, the issue's targets).
# Logs go to stderr. Exit status 0 only when every step passed.
#
# For a bare NVIDIA machine with the driver, CUDA + nvcc and CuPy (hence numpy), but no pycuda,
# no TensorRT and no internet. Carry in the ignored folder .gpu-check/ (README, "GPU check"):
#   pycuda-*.tar.gz      pip download --no-deps --no-binary :all: --no-build-isolation pycuda -d .gpu-check
#   pycuda's deps        pip download pytools platformdirs mako -d .gpu-check   (pulls markupsafe,
#                        siphash24, typing_extensions: binary ones for the machine's Python)
#   build tools          pip download --only-binary :all: setuptools wheel -d .gpu-check
#   project deps the machine lacks (onnxruntime, opencv-python-headless, pydantic, scikit-image,
#   numba + llvmlite, pytest ...) as wheels (OpenVINO is optional: without it the CPU side of
#   the comparisons runs ONNX Runtime), and the model mirror in shared/models/bodypix (or
#   BODYPIX_MODEL_MIRROR / BODYPIX_TEST_MIRROR).
#
# Environment: PYTHON (default python3), GPU_CHECK_CARRY (default .gpu-check), GPU_CHECK_FRAMES
# (timed frames per bench, default 100), GPU_CHECK_NO_GPU=1 (dry check on a machine without a
# GPU: build pycuda, then stop with status 3 before anything needs the device).
set -euo pipefail
cd "$(dirname "$0")/.."

START=$(date +%s)
BUDGET_S=480
CARRY=${GPU_CHECK_CARRY:-.gpu-check}
PYTHON=${PYTHON:-python3}
FRAMES=${GPU_CHECK_FRAMES:-100}
WORK=$(mktemp -d -t gpu-check.XXXXXX)

log() { printf '[gpu-check %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
fail() {
	log "FAILED: $*"
	exit 1
}
# Seconds left of the budget, for `timeout` (never less than 1).
left() {
	local rest=$((BUDGET_S - ($(date +%s) - START)))
	echo $((rest > 1 ? rest : 1))
}

# --- 1. the machine and the carried files ---------------------------------------------------
NVCC=$(command -v nvcc || true)
for root in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
	if [[ -z $NVCC && -n $root && -x $root/bin/nvcc ]]; then NVCC=$root/bin/nvcc; fi
done
[[ -n $NVCC ]] || fail "nvcc not found: install the CUDA toolkit or set CUDA_HOME."
# pycuda's setup finds CUDA through CUDA_ROOT (include/, lib64/): the first toolkit with
# cuda.h (nvcc may be a wrapper script outside the toolkit, as /usr/local/bin/nvcc often is).
NVCC_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
for root in "${CUDA_ROOT:-}" "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda "$NVCC_ROOT"; do
	if [[ -n $root && -f $root/include/cuda.h ]]; then
		CUDA_ROOT=$root
		break
	fi
done
[[ -n ${CUDA_ROOT:-} ]] || fail "no CUDA toolkit with include/cuda.h: set CUDA_ROOT."
export CUDA_ROOT
PATH="$CUDA_ROOT/bin:$(dirname "$NVCC"):$PATH"
log "nvcc $NVCC ($("$NVCC" --version | tail -n 1)), CUDA_ROOT $CUDA_ROOT"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >&2; then
	HAVE_GPU=1
else
	HAVE_GPU=0
	[[ ${GPU_CHECK_NO_GPU:-0} == 1 ]] || fail "no NVIDIA GPU visible (nvidia-smi -L failed)."
	log "no GPU (GPU_CHECK_NO_GPU=1): dry check, stopping before the device is needed"
fi
shopt -s nullglob
SDISTS=("$CARRY"/pycuda-*.tar.gz)
shopt -u nullglob
((${#SDISTS[@]} > 0)) || fail "no $CARRY/pycuda-*.tar.gz: download it first (see the header)."
SDIST=${SDISTS[-1]}
CARRY=$(cd "$CARRY" && pwd)

# --- 2. pycuda, built here, offline -----------------------------------------------------------
log "virtual environment in $WORK/venv (system site packages: numpy, CuPy)"
"$PYTHON" -m venv --system-site-packages "$WORK/venv"
VPY=$WORK/venv/bin/python
PIP=("$VPY" -m pip install --quiet --no-index --find-links "$CARRY")
"${PIP[@]}" setuptools wheel pytools platformdirs mako ||
	fail "pycuda's dependencies are not all in $CARRY (pytools, platformdirs, mako, and theirs)."
"$VPY" -c "import numpy" || fail "numpy is missing: carry its wheel in $CARRY."
log "building $(basename "$SDIST") against $CUDA_ROOT on $(nproc) cores"
tar -xzf "$SDIST" -C "$WORK"
SOURCES=("$WORK"/pycuda-*/)
# configure.py writes siteconf.py (CUDA_ROOT: include/, lib64/; no cuRAND, which the frame
# path does not use); build_ext --parallel uses every core (pip alone compiles one file at a
# time); pip then installs the built tree.
if ! (
	cd "${SOURCES[0]}" &&
		"$VPY" configure.py --cuda-root="$CUDA_ROOT" --no-cuda-enable-curand &&
		timeout "$(left)" "$VPY" setup.py build_ext --inplace --parallel "$(nproc)" &&
		timeout "$(left)" "$VPY" -m pip install --no-index --find-links "$CARRY" \
			--no-build-isolation --no-deps .
) >"$WORK/pycuda-build.log" 2>&1; then
	tail -n 30 "$WORK/pycuda-build.log" >&2
	fail "pycuda did not build against $CUDA_ROOT (log above, full log $WORK/pycuda-build.log)."
fi
if [[ $HAVE_GPU == 0 ]]; then
	log "pycuda built; no GPU, so no tests or bench (dry check done)"
	exit 3
fi
"$VPY" -c "import pycuda.driver as cuda; cuda.init(); print(cuda.Device(0).name())" >&2 ||
	fail "pycuda cannot use the GPU (see above)."

# --- 3. the project's dependencies ------------------------------------------------------------
MISSING=$("$VPY" - <<'PY'
import importlib.util

modules = {"cv2": "opencv-python-headless", "onnxruntime": "onnxruntime", "pydantic": "pydantic",
           "skimage": "scikit-image", "pytest": "pytest", "onnx": "onnx", "yaml": "pyyaml",
           "numba": "numba"}
print(" ".join(pkg for mod, pkg in modules.items() if importlib.util.find_spec(mod) is None))
PY
)
if [[ -n $MISSING ]]; then
	log "installing from $CARRY: $MISSING"
	# shellcheck disable=SC2086 # one word per package
	"${PIP[@]}" $MISSING || fail "carry wheels for: $MISSING (and their dependencies)."
fi
export PYTHONPATH=$PWD BODYPIX_CUDA_EXECUTOR=device
export BODYPIX_CUDA_CACHE=$WORK/kernels
if [[ -d shared/models/bodypix ]]; then
	export BODYPIX_TEST_MIRROR=${BODYPIX_TEST_MIRROR:-$PWD/shared/models/bodypix}
	export BODYPIX_MODEL_MIRROR=${BODYPIX_MODEL_MIRROR:-$PWD/shared/models/bodypix}
fi

# --- 4. tests/runtime/cuda on the device executor --------------------------------------------------------
log "pytest tests/runtime/cuda (device executor)"
TESTS_OK=1
BODYPIX_CUDA_TEST_EXECUTORS=device timeout "$(left)" "$VPY" -m pytest tests/runtime/cuda -q \
	-p no:cacheprovider --junitxml "$WORK/tests.xml" >&2 || TESTS_OK=0

# --- 5. bench at 720p and 1080p, blur and replace ---------------------------------------------
BENCH_OK=1
for effect in blur replace; do
	log "bench --backend cuda --effect $effect (1280x720, 1920x1080; $FRAMES frames)"
	timeout "$(left)" "$VPY" -m runtime.cli bench --backend cuda --effect "$effect" \
		--frames "$FRAMES" --warmup 10 --json >"$WORK/bench-$effect.json" || BENCH_OK=0
done
log "bench --backend cuda --effect blur --smoothing 0.5 --edge-refine guided (1280x720)"
timeout "$(left)" "$VPY" -m runtime.cli bench --backend cuda --effect blur --size 1280x720 \
	--smoothing 0.5 --smoothing-method motion --edge-refine guided --frames "$FRAMES" \
	--warmup 10 --json >"$WORK/bench-quality.json" || BENCH_OK=0

# --- 6. one JSON summary --------------------------------------------------------------------------
REPORTS=()
for effect in blur replace quality; do
	[[ -s $WORK/bench-$effect.json ]] && REPORTS+=("$WORK/bench-$effect.json")
done
((${#REPORTS[@]} > 0)) || fail "no bench report (see above)."
JUNIT=()
[[ -s $WORK/tests.xml ]] && JUNIT=(--junit "$WORK/tests.xml")
"$VPY" -m runtime.cuda.bench summary "${JUNIT[@]}" --elapsed "$(($(date +%s) - START))" \
	"${REPORTS[@]}"
((TESTS_OK == 1)) || fail "tests/runtime/cuda failed on the device (see above)."
((BENCH_OK == 1)) || fail "a bench run failed (see above)."
log "done"
