"""Every .cu file compiles with nvcc (CI has the compiler but no GPU): no device needed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from runtime.cuda import build
from runtime.cuda.kernels import COMPOSITE_PARAMS_DTYPE
from runtime.cuda.tables import RESAMPLE_TAP_DTYPE

# Turing (oldest nvcc 13 keeps), Orin (Jetson, JetPack 6), Hopper, plus PTX for the driver to
# JIT on anything newer. Xavier (sm_72) is JetPack 5 / CUDA 11.4: it compiles there at startup.
TARGETS = ("sm_75", "sm_87", "sm_90", "compute_75")


@pytest.fixture(scope="module")
def nvcc() -> Path:
    found = build.find_nvcc()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide nvcc (the CUDA toolkit) to compile the kernels")
        pytest.skip("nvcc not found (CUDA toolkit not installed); CI compiles the kernels")
    return found


@pytest.mark.parametrize("source", build.KERNEL_SOURCES)
def test_kernel_compiles(nvcc: Path, source: str, tmp_path: Path) -> None:
    out = build.compile_kernel(
        build.KERNEL_DIR / source, tmp_path / f"{source}.fatbin", TARGETS, "fatbin", nvcc
    )
    assert out.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind


def test_every_cu_file_is_listed() -> None:
    on_disk = sorted(p.name for p in build.KERNEL_DIR.glob("*.cu"))
    assert on_disk == sorted(build.KERNEL_SOURCES)


def test_compile_error_is_a_user_error(nvcc: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.cu"
    broken.write_text('extern "C" __global__ void k(float* p) { p[0] = undefined_name; }\n')
    with pytest.raises(UserError, match=r"nvcc could not compile broken\.cu.*undefined_name"):
        build.compile_kernel(broken, tmp_path / "broken.cubin", ["sm_87"], "cubin", nvcc)
    assert [p.name for p in tmp_path.iterdir()] == ["broken.cu"]


def test_host_struct_layouts_match_the_kernels() -> None:
    """The NumPy dtypes the launcher packs have the sizes the .cu files assert."""
    composite = (build.KERNEL_DIR / "composite.cu").read_text()
    size = re.search(r"#define COMPOSITE_PARAMS_BYTES (\d+)", composite)
    assert size is not None
    assert COMPOSITE_PARAMS_DTYPE.itemsize == int(size.group(1))
    assert RESAMPLE_TAP_DTYPE.itemsize == 12
    assert np.dtype(RESAMPLE_TAP_DTYPE).names == ("i0", "i1", "w1")


def test_struct_offsets_match_numpy(nvcc: Path, tmp_path: Path) -> None:
    """Field by field, the C layout nvcc gives CompositeParams and ResampleTap is the layout
    the launcher packs (a host program prints offsetof; no GPU needed to run it)."""
    fields = COMPOSITE_PARAMS_DTYPE.names or ()
    prints = "\n".join(
        f'    std::printf("{name} %zu\\n", offsetof(CompositeParams, {name}));' for name in fields
    )
    source = tmp_path / "layout.cu"
    source.write_text(
        '#include <cstddef>\n#include <cstdio>\n#include "composite.cu"\n'
        "int main() {\n"
        f"{prints}\n"
        '    std::printf("sizeof %zu\\n", sizeof(CompositeParams));\n'
        '    std::printf("tap %zu %zu %zu %zu\\n", sizeof(ResampleTap), offsetof(ResampleTap, i0),'
        " offsetof(ResampleTap, i1), offsetof(ResampleTap, w1));\n"
        "    return 0;\n}\n"
    )
    exe = tmp_path / "layout"
    cmd = [str(nvcc), "-std=c++17", "-I", str(build.KERNEL_DIR), "-o", str(exe), str(source)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = dict(line.split(" ", 1) for line in out.strip().splitlines())
    for name in fields:
        assert int(got[name]) == COMPOSITE_PARAMS_DTYPE.fields[name][1], name  # type: ignore[index]
    assert int(got["sizeof"]) == COMPOSITE_PARAMS_DTYPE.itemsize
    tap = RESAMPLE_TAP_DTYPE
    assert got["tap"].split() == [
        str(tap.itemsize),
        *(str(tap.fields[n][1]) for n in ("i0", "i1", "w1")),  # type: ignore[index]
    ]
