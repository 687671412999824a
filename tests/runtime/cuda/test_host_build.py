"""The host executor's build: the same .cu files compiled as C++ by the system compiler, with
no CUDA headers, cached by source hash; and the rule that keeps it exact."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from core.errors import UserError
from runtime.cuda import build, host_executor
from runtime.cuda.kernels import Kernels

KERNEL_FILES = sorted([*build.KERNEL_DIR.glob("*.cu"), *build.KERNEL_DIR.glob("*.cuh")])


@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: p.name)
def test_no_shared_memory_or_barriers(path: Path) -> None:
    """A launch on the host runs the threads one after another: exact only without
    __shared__ memory and __syncthreads barriers (the shim defines neither on purpose)."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(), flags=re.S)
    for word in ("__shared__", "__syncthreads", "__syncwarp", "__shfl", "atomic"):
        assert word not in code, f"{path.name} uses {word}: the host executor cannot run it"


def test_every_kernel_is_exported_and_listed() -> None:
    for source, names in Kernels.SOURCES.items():
        assert host_executor.kernel_names(build.KERNEL_DIR / source) == list(names)
    assert sorted(Kernels.SOURCES) == sorted(build.KERNEL_SOURCES)


def test_the_host_build_needs_no_cuda_headers(tmp_path: Path) -> None:
    """cuda_fp16.h resolves to the shim: the command has no CUDA include path, and the
    preprocessor finds every header without one."""
    cxx = host_executor.compiler()
    assert cxx is not None, "CI needs g++ for the host executor"
    unit = tmp_path / "mask.cpp"
    unit.write_text(host_executor.translation_unit(build.KERNEL_DIR / "mask.cu"))
    command = host_executor.host_compile_command(cxx, unit, tmp_path / "mask.so", False)
    assert not any("cuda" in part.lower() and part.startswith("/usr/local") for part in command)
    includes = subprocess.run(
        [*command[: command.index("-o")], "-E", "-M", str(unit)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "CPATH": "", "CPLUS_INCLUDE_PATH": ""},
    ).stdout
    assert "host_shim/cuda_fp16.h" in includes
    assert "/usr/local/cuda" not in includes and "targets/" not in includes


def test_libraries_are_cached_by_source_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    first = host_executor.build_host_library("blur.cu", sanitize=False)
    assert first.is_file() and first.is_relative_to(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert host_executor.build_host_library("blur.cu", sanitize=False) == first
    assert first.stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in first.parent.iterdir()] == ["blur.so"]  # nothing half-written


def test_a_compiler_error_is_one_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("CXX", "/bin/false")
    with pytest.raises(UserError, match=r"could not build blur\.cu for the host executor"):
        host_executor.build_host_library("blur.cu", sanitize=False)
    monkeypatch.setenv("CXX", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="needs a C\\+\\+ compiler"):
        host_executor.build_host_library("blur.cu", sanitize=False)


def test_a_damaged_cached_library_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    path = host_executor.build_host_library("preprocess.cu", sanitize=False)
    path.write_bytes(b"not a shared library")
    library = host_executor.load_host_library("preprocess.cu")
    assert hasattr(library, "bodypix_launch_preprocess")
    assert path.stat().st_size > 1000
