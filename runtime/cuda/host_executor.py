"""The host executor: the `.cu` kernels built as C++ for the CPU, and a stand-in for the driver.

Developer and CI switch (`BODYPIX_CUDA_EXECUTOR=host`), not a product feature: it is exact but
slow. None of the kernels uses shared memory or barriers, so compiling the very same `.cu` files
with the system C++ compiler (a small shim, `host_shim/`, supplies threadIdx & co. and the
fp16 conversions, so no CUDA headers are needed) and running each launch as a loop over the
grid executes them exactly. `-ffp-contract=off` and no fast-math keep the arithmetic as close
to nvcc's `--fmad=false` as a CPU allows (expf and friends may differ by an ulp).

`HostDevice` stands in for `runtime.cuda.device.CudaDevice`: "device memory" is host arrays
whose addresses are the device pointers, in both memory modes (mapped: the host array is its
own device alias; pinned: a host array plus a separate device allocation and copies). Like the
CUDA driver it keeps a per-thread stack of current contexts and raises on any device call
(allocation, copy, launch, module load, free, synchronise) made without its context current on
the calling thread, so CI tests the context discipline a Jetson enforces. Pointers handed to a
launch must lie in a live allocation (an illegal address raises instead of crashing).

Length (over 400 lines): the stand-in mirrors the slice of pycuda the frame path uses (context,
allocations, pinned memory, events, functions, streams, device), one small class each, and they
share the context stack; kept together so the whole substitute reads against pycuda at once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.atomic import atomic_path, current_umask
from core.errors import UserError
from runtime.cuda.build import KERNEL_DIR, cache_dir, run_compiler

SHIM_DIR = KERNEL_DIR / "host_shim"
SHIM_HEADER = "cuda_runtime_shim.h"
# The host twin of build.NVCC_FLAGS: no fused multiply-add, no fast-math.
HOST_FLAGS: tuple[str, ...] = (
    "-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared",
    "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
)  # fmt: skip
# The AddressSanitizer + UBSan build (CI's `make test-sanitizers`); the process that loads it
# must have libasan preloaded.
SANITIZE_FLAGS: tuple[str, ...] = (
    "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer",
    "-g",
)  # fmt: skip
SANITIZE_ENV = "BODYPIX_CUDA_SANITIZE"
_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')


class HostCudaError(RuntimeError):
    """What the CUDA driver would have returned as an error code."""


def compiler() -> str | None:
    """The C++ compiler: $CXX, else g++ from PATH."""
    return os.environ.get("CXX") or shutil.which("g++")


def sanitized() -> bool:
    return os.environ.get(SANITIZE_ENV, "") not in ("", "0")


def kernel_names(source: Path) -> list[str]:
    """The `extern "C" __global__` kernels a .cu file defines."""
    return _KERNEL_RE.findall(source.read_text())


def host_flags(sanitize: bool) -> tuple[str, ...]:
    return HOST_FLAGS + (SANITIZE_FLAGS if sanitize else ())


def host_digest(cxx: str, sanitize: bool) -> str:
    """Cache key: kernel sources, shim, flags and the compiler's version."""
    from runtime.cuda.build import sources_digest

    version = subprocess.run(
        [cxx, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    digest = hashlib.sha256(sources_digest().encode())
    digest.update(" ".join((*host_flags(sanitize), *version)).encode())
    for shim in sorted(SHIM_DIR.iterdir()):
        digest.update(shim.name.encode())
        digest.update(shim.read_bytes())
    return digest.hexdigest()[:16]


def translation_unit(source: Path) -> str:
    """The C++ file that includes one .cu file (not a copy) and exports a launcher per kernel."""
    launchers = "".join(f"BODYPIX_HOST_LAUNCHER({name})\n" for name in kernel_names(source))
    return f'#include "{source}"\n{launchers}'


def host_compile_command(cxx: str, unit: Path, output: Path, sanitize: bool) -> list[str]:
    # No CUDA include path: host_shim/ provides cuda_fp16.h, the shim header the built-ins.
    return [
        cxx, *host_flags(sanitize), "-I", str(SHIM_DIR), "-I", str(KERNEL_DIR),
        "-include", str(SHIM_DIR / SHIM_HEADER), "-o", str(output), str(unit),
    ]  # fmt: skip


def build_host_library(source_name: str, sanitize: bool | None = None) -> Path:
    """The cached shared library of one .cu file for the CPU, compiling it when missing."""
    cxx = compiler()
    if cxx is None:
        raise UserError(
            "The host executor needs a C++ compiler and none was found: install g++ or set CXX."
        )
    sanitize = sanitized() if sanitize is None else sanitize
    source = KERNEL_DIR / source_name
    stem = Path(source_name).stem
    suffix = "-asan" if sanitize else ""
    path = cache_dir() / f"host-{host_digest(cxx, sanitize)}" / f"{stem}{suffix}.so"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A shared library keeps the executable bits a linker gives it; the rename is atomic
    # because another process may be building the same file.
    with (
        tempfile.TemporaryDirectory(dir=path.parent) as tmp,
        atomic_path(path, mode=0o777 & ~current_umask(), suffix=".so") as built,
    ):
        unit = Path(tmp) / f"{stem}.cpp"
        unit.write_text(translation_unit(source))
        run_compiler(
            host_compile_command(cxx, unit, built, sanitize),
            f"{Path(cxx).name} could not build {source_name} for the host executor",
        )
    return path


def load_host_library(source_name: str) -> ctypes.CDLL:
    """Load the cached library, rebuilding it once when the cached file is damaged."""
    path = build_host_library(source_name)
    try:
        return ctypes.CDLL(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # a damaged cache file: build it again
        return ctypes.CDLL(str(build_host_library(source_name)))


# --- the driver stand-in -----------------------------------------------------------------


_thread = threading.local()


def _context_stack() -> list[HostContext]:
    """The calling thread's stack of current contexts (cuCtxPushCurrent / cuCtxPopCurrent)."""
    stack: list[HostContext] | None = getattr(_thread, "stack", None)
    if stack is None:
        stack = _thread.stack = []
    return stack


class HostContext:
    """A CUDA context: current per thread, pushed and popped like the driver's."""

    def push(self) -> None:
        _context_stack().append(self)

    def pop(self) -> None:
        stack = _context_stack()
        if not stack or stack[-1] is not self:
            raise HostCudaError("cuCtxPopCurrent: this context is not current on this thread")
        stack.pop()

    def is_current(self) -> bool:
        stack = _context_stack()
        return bool(stack) and stack[-1] is self


@dataclass
class _Region:
    array: npt.NDArray[np.uint8]  # the bytes; the address is the device pointer
    kind: str  # "device" or "mapped"


class HostAllocation:
    """`cuMemAlloc`'d memory: `ptr` is a host address. Free it with the context current."""

    def __init__(self, device: HostDevice, ptr: int, nbytes: int) -> None:
        self._device = device
        self.ptr = ptr
        self.nbytes = nbytes
        self.freed = False

    def free(self) -> None:
        if not self.freed:
            self._device.release(self, "cuMemFree")

    def __del__(self) -> None:
        # pycuda frees a collected allocation in whatever context it can reach; on another
        # thread that fails. Here it is recorded, and tests require that it never happens.
        if not self.freed:
            self._device.collected_unfreed(self)


class HostPinned:
    """`cuMemHostAlloc`'d host memory; `device_ptr` is its alias when mapped (else None)."""

    def __init__(
        self, device: HostDevice, array: npt.NDArray[Any], mapped: bool, token: HostAllocation
    ) -> None:
        self.array = array
        self.device_ptr = int(array.ctypes.data) if mapped else None
        self.token = token

    def free(self) -> None:
        self.token.free()


class HostEvent:
    """A CUDA event: launches run synchronously here, so the wall time at record is exact."""

    def __init__(self) -> None:
        self.time = time.perf_counter()

    def elapsed_ms_since(self, start: HostEvent) -> float:
        return (self.time - start.time) * 1e3


class HostFunction:
    """A kernel of the host library, called like a pycuda Function."""

    def __init__(self, device: HostDevice, name: str, launcher: Any) -> None:
        self._device = device
        self.name = name
        self._launcher = launcher

    def __call__(
        self,
        *args: Any,
        block: tuple[int, int, int],
        grid: tuple[int, int] | tuple[int, int, int],
        stream: object | None = None,
    ) -> None:
        self._device.require_current(f"cuLaunchKernel({self.name})")
        storage: list[npt.NDArray[np.uint64]] = []
        for arg in args:
            if not isinstance(arg, np.generic):
                raise TypeError(f"kernel argument {arg!r} is not a NumPy scalar or record")
            if isinstance(arg, np.uintp) or (
                isinstance(arg, np.void) and arg.dtype.fields is not None
            ):
                self._device.check_pointers(self.name, arg)
            raw = arg.tobytes()
            buffer = np.zeros((len(raw) + 7) // 8, np.uint64)  # 8-byte aligned, as CUDA's
            buffer.view(np.uint8)[: len(raw)] = np.frombuffer(raw, np.uint8)
            storage.append(buffer)
        params = (ctypes.c_void_p * max(len(storage), 1))(*[value.ctypes.data for value in storage])
        grid3 = (ctypes.c_uint * 3)(*(*grid, 1)[:3])
        block3 = (ctypes.c_uint * 3)(*block)
        self._launcher(grid3, block3, params)  # ctypes releases the GIL meanwhile


class HostStream:
    """The one stream: work runs when enqueued, so synchronising only checks the context."""

    handle = 0

    def __init__(self, device: HostDevice) -> None:
        self._device = device

    def synchronize(self) -> None:
        self._device.require_current("cuStreamSynchronize")


class HostDevice:
    """The host stand-in for `runtime.cuda.device.CudaDevice` (same methods)."""

    executor = "host"

    def __init__(self, memory_mode: str = "pinned") -> None:
        if memory_mode not in ("mapped", "pinned"):
            raise ValueError(f"memory mode {memory_mode!r} is not mapped or pinned")
        self.mode = memory_mode
        self.name = "host executor (kernels compiled for the CPU)"
        self.compute_capability = (0, 0)
        self.context = HostContext()
        self._regions: dict[int, _Region] = {}
        self._tokens: dict[int, HostAllocation] = {}
        self._lock = threading.Lock()
        self._libraries: dict[str, ctypes.CDLL] = {}
        self.violations: list[str] = []  # frees the driver would have refused (tests check)
        self.closed = False
        self._users = 1  # close() and every frame still held elsewhere (free_when_collected)
        self._closing = False
        with self.active():
            self.stream = HostStream(self)

    # -- contexts -----------------------------------------------------------------------

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the context current on the calling thread for the block."""
        if self.closed:
            raise HostCudaError("the CUDA context was released (the device is closed)")
        self.context.push()
        try:
            yield
        finally:
            self.context.pop()

    def require_current(self, call: str) -> None:
        if self.closed:
            raise HostCudaError(f"{call}: the device is closed")
        if not self.context.is_current():
            raise HostCudaError(
                f"{call} on thread {threading.current_thread().name} without the CUDA context "
                "current (CUDA_ERROR_INVALID_CONTEXT): wrap the call in device.active()"
            )

    # -- memory -------------------------------------------------------------------------

    def _register(self, array: npt.NDArray[np.uint8], kind: str) -> HostAllocation:
        ptr = int(array.ctypes.data)
        token = HostAllocation(self, ptr, array.nbytes)
        with self._lock:
            self._regions[ptr] = _Region(array, kind)
            self._tokens[ptr] = token
        return token

    def mem_alloc(self, nbytes: int) -> HostAllocation:
        self.require_current("cuMemAlloc")
        # Exactly nbytes (AddressSanitizer then sees any read past the end); never empty.
        return self._register(np.empty(max(nbytes, 1), np.uint8), "device")

    def host_alloc(self, shape: tuple[int, ...], dtype: npt.DTypeLike, mapped: bool) -> HostPinned:
        self.require_current("cuMemHostAlloc")
        dt = np.dtype(dtype)
        raw = np.empty(max(int(np.prod(shape)) * dt.itemsize, 1), np.uint8)
        array = raw[: int(np.prod(shape)) * dt.itemsize].view(dt).reshape(shape)
        # Only a mapped buffer is visible to kernels; plain pinned memory must be copied.
        token = self._register(raw, "mapped" if mapped else "pinned")
        return HostPinned(self, array, mapped, token)

    def live_allocations(self) -> int:
        """How many allocations are live (tests: a frame allocates nothing)."""
        with self._lock:
            return len(self._tokens)

    def release(self, token: HostAllocation, call: str) -> None:
        self.require_current(call)
        with self._lock:
            self._regions.pop(token.ptr, None)
            self._tokens.pop(token.ptr, None)
        token.freed = True

    def collected_unfreed(self, token: HostAllocation) -> None:
        if not self.closed:
            self.violations.append(
                f"a {token.nbytes}-byte allocation was garbage-collected without free() on "
                f"thread {threading.current_thread().name}"
            )

    def _bytes(self, ptr: int, nbytes: int, call: str, kernel_visible: bool = True) -> Any:
        with self._lock:
            for start, region in self._regions.items():
                if start <= ptr and ptr + nbytes <= start + region.array.nbytes:
                    if kernel_visible and region.kind == "pinned":
                        break
                    return region.array[ptr - start : ptr - start + nbytes]
        raise HostCudaError(
            f"{call}: {nbytes} bytes at {ptr:#x} are not in a live device allocation "
            "(CUDA_ERROR_ILLEGAL_ADDRESS)"
        )

    def check_pointers(self, kernel: str, arg: np.generic) -> None:
        """Every pointer argument of a launch is null or inside a live device-visible region."""
        if isinstance(arg, np.uintp):
            pointers = [int(arg)]
        else:
            record = np.asarray(arg)
            fields: Mapping[str, Any] = record.dtype.fields or {}
            pointers = [int(record[name]) for name, spec in fields.items() if spec[0] == np.uint64]
        for ptr in pointers:
            if ptr:
                self._bytes(ptr, 1, f"cuLaunchKernel({kernel})")

    def memcpy_htod(self, ptr: int, src: npt.NDArray[Any], asynchronous: bool = False) -> None:
        self.require_current("cuMemcpyHtoDAsync" if asynchronous else "cuMemcpyHtoD")
        data = np.ascontiguousarray(src).reshape(-1).view(np.uint8)
        self._bytes(ptr, data.nbytes, "cuMemcpyHtoD")[...] = data

    def memcpy_dtoh(self, dst: npt.NDArray[Any], ptr: int, asynchronous: bool = False) -> None:
        self.require_current("cuMemcpyDtoHAsync" if asynchronous else "cuMemcpyDtoH")
        if not dst.flags.c_contiguous:
            raise HostCudaError("cuMemcpyDtoH into a non-contiguous array")
        dst.reshape(-1).view(np.uint8)[...] = self._bytes(ptr, dst.nbytes, "cuMemcpyDtoH")

    def memcpy_dtod(self, dst: int, src: int, nbytes: int) -> None:
        self.require_current("cuMemcpyDtoDAsync")
        self._bytes(dst, nbytes, "cuMemcpyDtoD")[...] = self._bytes(src, nbytes, "cuMemcpyDtoD")

    def synchronize(self) -> None:
        self.stream.synchronize()

    def record_event(self) -> HostEvent:
        self.require_current("cuEventRecord")
        return HostEvent()

    # -- modules ------------------------------------------------------------------------

    def load_function(self, source_name: str, name: str) -> Callable[..., None]:
        self.require_current("cuModuleLoad")
        library = self._libraries.get(source_name)
        if library is None:
            library = self._libraries[source_name] = load_host_library(source_name)
        launcher = getattr(library, f"bodypix_launch_{name}")
        launcher.restype = None
        return HostFunction(self, name, launcher)

    def free_when_collected(self, array: npt.NDArray[Any], memory: HostPinned) -> None:
        """Free `memory` (whose array someone still holds) with the context current on
        whichever thread drops the last reference; the context stays alive until then."""
        with self._lock:
            self._users += 1
        # The callback must not refer to the array (it would never be collected).
        weakref.finalize(array, self._free_collected, memory.token)

    def _free_collected(self, token: HostAllocation) -> None:
        with self.active():
            token.free()
        self._release_user()

    def close(self) -> None:
        """Release the context (from any thread, outside `active()`, like CudaDevice); frames
        still held elsewhere keep it until they are collected."""
        if self.closed or self._closing:
            return
        self._closing = True
        self._release_user()

    def _release_user(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            self._close_context()

    def _close_context(self) -> None:
        with self.active():
            with self._lock:
                leaked = list(self._tokens.values())
            if leaked:
                self.violations.append(f"{len(leaked)} allocations were still live at close()")
            self._libraries.clear()
        self.closed = True
