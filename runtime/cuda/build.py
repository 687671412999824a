"""Compiling the `.cu` kernels with nvcc and loading them with pycuda.

Decision: the kernels are compiled by `nvcc` into a cubin for the exact GPU in the machine
(its compute capability) on first use, cached under ~/.cache/bodypix-appliance/cuda keyed by
the sources, the flags and the architecture, and loaded with `pycuda.driver.module_from_file`.
Not `SourceModule`: the same `nvcc_command` is what CI runs on every `.cu` file (CI has nvcc but
no GPU), so a kernel that does not compile fails CI exactly as it would fail on the device.
JetPack ships nvcc with CUDA, so a Jetson compiles its own sm_72/sm_87 cubin at first start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.atomic import atomic_path
from core.catalog import user_cache_dir
from core.errors import UserError
from core.lazy import lazy_import

if TYPE_CHECKING:
    import pycuda.driver as cuda
    from pycuda.driver import Module
else:
    cuda = lazy_import("pycuda.driver")

KERNEL_DIR = Path(__file__).resolve().parent
# One module per concern; each .cu includes common.cuh.
KERNEL_SOURCES: tuple[str, ...] = (
    "preprocess.cu", "mask.cu", "blur.cu", "composite.cu", "edge_refine.cu"
)  # fmt: skip
HEADERS: tuple[str, ...] = ("common.cuh",)
# No --use_fast_math and no FMA contraction: interpolation and sigmoid round like the NumPy
# reference, so thresholds flip on the same pixels.
NVCC_FLAGS: tuple[str, ...] = (
    "-std=c++17", "-O3", "--fmad=false", "-Werror", "all-warnings", "-lineinfo"
)  # fmt: skip
CACHE_ENV = "BODYPIX_CUDA_CACHE"


def find_nvcc() -> Path | None:
    """nvcc from PATH, $CUDA_HOME or the usual install locations (JetPack puts it off PATH)."""
    found = shutil.which("nvcc")
    if found:
        return Path(found)
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    for root in roots:
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return Path(root) / "bin" / "nvcc"
    return None


def nvcc_command(
    nvcc: Path, source: Path, output: Path, targets: Sequence[str], kind: str = "cubin"
) -> list[str]:
    """The nvcc command line for one kernel file.

    `targets` are `sm_XY` (SASS for that GPU) or `compute_XY` (PTX, JIT-compiled by the driver);
    `kind` is `cubin` (one sm target), `fatbin` (several) or `ptx` (one compute target).
    """
    cmd = [str(nvcc), f"-{kind}", *NVCC_FLAGS, "-I", str(KERNEL_DIR)]
    for target in targets:
        virtual = "compute_" + target.split("_", 1)[1]
        cmd += ["-gencode", f"arch={virtual},code={target}"]
    return [*cmd, "-o", str(output), str(source)]


def compile_kernel(
    source: Path,
    output: Path,
    targets: Sequence[str],
    kind: str = "cubin",
    nvcc: Path | None = None,
) -> Path:
    """Compile `source` to `output` atomically; a compiler error is a UserError with its log."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise UserError(
            "The CUDA compiler nvcc was not found: install the CUDA toolkit (JetPack includes "
            "it) or set CUDA_HOME to its directory."
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        run_compiler(
            nvcc_command(nvcc, source, tmp, targets, kind),
            f"nvcc could not compile {source.name} for {', '.join(targets)}",
        )
    return output


def run_compiler(command: Sequence[str], failure: str) -> None:
    """Run a compiler; a non-zero exit is a UserError: `failure`, then the compiler's log."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise UserError(f"{failure}: {(result.stderr or result.stdout).strip()}")


def sources_digest() -> str:
    """Hash of every kernel source, header and flag: the cache key of compiled modules."""
    digest = hashlib.sha256(" ".join(NVCC_FLAGS).encode())
    for name in (*HEADERS, *KERNEL_SOURCES):
        digest.update(name.encode())
        digest.update((KERNEL_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else user_cache_dir() / "cuda"


def arch_of(compute_capability: tuple[int, int]) -> str:
    major, minor = compute_capability
    return f"sm_{major}{minor}"


def cubin_for(source_name: str, arch: str) -> Path:
    """The cached cubin of one kernel file for `arch`, compiling it when missing."""
    stem = Path(source_name).stem
    path = cache_dir() / sources_digest() / f"{stem}-{arch}.cubin"
    if not path.is_file():
        compile_kernel(KERNEL_DIR / source_name, path, [arch])
    return path


def load_module(source_name: str, compute_capability: tuple[int, int]) -> Module:
    """Load one kernel file into the current CUDA context (pycuda must be initialised)."""
    return cuda.module_from_file(str(cubin_for(source_name, arch_of(compute_capability))))
