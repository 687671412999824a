"""The GPU and its one CUDA context: who owns it, and every driver call the frame path makes.

One owner of the context: `PrimaryContext` retains the GPU's primary context once per process
and is shared by the CUDA frame path (`CudaDevice`) and the TensorRT backend (TensorRT's
runtime API uses the primary context too). A CUDA context is current per thread, and the live
pipeline segments on the inference thread, composites on the output thread and captures on a
third, so every driver call (allocation, copy, launch, module load, free) goes through
`CudaDevice`, whose methods are only called inside `device.active()` on the calling thread, and
nothing is left to the garbage collector: buffers are freed explicitly with the context
current (pycuda would otherwise try to free them on whatever thread collects them).

`CudaDevice` (pycuda) and `runtime.cuda.host_executor.HostDevice` (the kernels compiled for
the CPU, CI's executor) have the same methods; `open_device` picks one by
`BODYPIX_CUDA_EXECUTOR` (host | device, default device).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt

from core.errors import MissingExtraError, UserError
from core.lazy import lazy_import, load

if TYPE_CHECKING:
    import pycuda.driver as cuda
else:
    cuda = lazy_import("pycuda.driver")

log = logging.getLogger(__name__)

MemoryMode = Literal["mapped", "pinned"]
Executor = Literal["host", "device"]
EXECUTOR_ENV = "BODYPIX_CUDA_EXECUTOR"
MEMORY_MODE_ENV = "BODYPIX_CUDA_MEMORY"  # mapped | pinned: override the device's choice


def choose_memory_mode(integrated: bool, can_map_host_memory: bool) -> MemoryMode:
    """Mapped (zero-copy) only where the GPU shares the host's memory (every Jetson); on a
    discrete GPU mapped memory would cross PCIe on every access, so pinned buffers with one
    async copy each are faster."""
    return "mapped" if integrated and can_map_host_memory else "pinned"


def executor_from_env() -> Executor:
    value = os.environ.get(EXECUTOR_ENV, "device").strip().lower() or "device"
    if value not in ("host", "device"):
        raise UserError(f"{EXECUTOR_ENV}={value!r} is not host or device: unset it or fix it.")
    return cast(Executor, value)


def memory_mode_from_env() -> MemoryMode | None:
    value = os.environ.get(MEMORY_MODE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in ("mapped", "pinned"):
        raise UserError(f"{MEMORY_MODE_ENV}={value!r} is not mapped or pinned: unset it.")
    return cast(MemoryMode, value)


def require_pycuda() -> None:
    """Fail with a clear error naming the extra that installs pycuda, before any CUDA call."""
    try:
        load(cuda)
    except ImportError as exc:
        raise MissingExtraError("gpu", "pycuda", "The CUDA frame path") from exc


class Allocation(Protocol):
    """Device memory: its address, freed explicitly with the context current."""

    @property
    def ptr(self) -> int: ...

    def free(self) -> None: ...


class PinnedMemory(Protocol):
    """Page-locked host memory: the array, and its device alias when mapped (else None)."""

    @property
    def array(self) -> npt.NDArray[Any]: ...

    @property
    def device_ptr(self) -> int | None: ...

    def free(self) -> None: ...


class Event(Protocol):
    def elapsed_ms_since(self, start: Any) -> float: ...


class Stream(Protocol):
    @property
    def handle(self) -> int: ...

    def synchronize(self) -> None: ...


class Device(Protocol):
    """What the frame path needs from a GPU (CudaDevice) or its host stand-in (HostDevice)."""

    @property
    def executor(self) -> str: ...  # "device" | "host"

    @property
    def mode(self) -> str: ...  # MemoryMode

    @property
    def name(self) -> str: ...

    @property
    def compute_capability(self) -> tuple[int, int]: ...

    @property
    def stream(self) -> Any: ...  # its handle and synchronize()

    def active(self) -> AbstractContextManager[None]: ...

    def mem_alloc(self, nbytes: int) -> Allocation: ...

    def host_alloc(
        self, shape: tuple[int, ...], dtype: npt.DTypeLike, mapped: bool
    ) -> PinnedMemory: ...

    def memcpy_htod(self, ptr: int, src: npt.NDArray[Any], asynchronous: bool = False) -> None: ...

    def memcpy_dtoh(self, dst: npt.NDArray[Any], ptr: int, asynchronous: bool = False) -> None: ...

    def memcpy_dtod(self, dst: int, src: int, nbytes: int) -> None: ...

    def synchronize(self) -> None: ...

    def record_event(self) -> Event: ...

    def load_function(self, source_name: str, name: str) -> Callable[..., None]: ...

    def free_when_collected(self, array: npt.NDArray[Any], memory: Any) -> None:
        """Free pinned `memory` once nothing refers to `array` any more (an output or the
        capture still holds it), with the context current; the context outlives it."""
        ...

    def close(self) -> None: ...


# --- pycuda ----------------------------------------------------------------------------


class PrimaryContext:
    """The primary context of one GPU, retained once per process and shared (reference
    counted) by every user: the CUDA frame path and the TensorRT backend."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _instances: ClassVar[dict[int, PrimaryContext]] = {}

    def __init__(self, index: int) -> None:
        self.index = index
        self.device = cuda.Device(index)
        self.context = self.device.retain_primary_context()
        self.users = 0

    @classmethod
    def acquire(cls, index: int = 0) -> PrimaryContext:
        """The shared owner of GPU `index`'s context (retained on first use)."""
        require_pycuda()

        with cls._lock:
            owner = cls._instances.get(index)
            if owner is None:
                cuda.init()
                count = cuda.Device.count()
                if count <= index:
                    raise UserError(
                        f"CUDA device {index} does not exist ({count} found): check the NVIDIA "
                        "driver with nvidia-smi, or use the CPU frame path."
                    )
                owner = cls._instances[index] = PrimaryContext(index)
            owner.users += 1
            return owner

    @contextmanager
    def active(self) -> Iterator[None]:
        """The context current on the calling thread for the block (any thread)."""
        self.context.push()
        try:
            yield
        finally:
            cuda.Context.pop()

    def release(self) -> None:
        """One user is done; the last one releases the context, from any thread: it is made
        current here first, so pycuda's detach releases it instead of leaking it."""
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            del self._instances[self.index]
            self.context.push()
            self.context.detach()  # pops it: the context was current


class _PycudaPinned:
    def __init__(self, array: npt.NDArray[Any], device_ptr: int | None) -> None:
        self.array = array
        self.device_ptr = device_ptr

    def free(self) -> None:
        allocation = cast("cuda.HostAllocation", self.array.base)
        allocation.free()


class _PycudaAllocation:
    def __init__(self, allocation: cuda.DeviceAllocation) -> None:
        self._allocation = allocation
        self.ptr = int(allocation)

    def free(self) -> None:
        self._allocation.free()


class _PycudaEvent:
    def __init__(self, stream: cuda.Stream) -> None:
        self.event = cuda.Event()
        self.event.record(stream)

    def elapsed_ms_since(self, start: _PycudaEvent) -> float:
        self.event.synchronize()
        return float(self.event.time_since(start.event))


def _free_pinned(owner: PrimaryContext, allocation: cuda.HostAllocation) -> None:
    with owner.active():
        allocation.free()
    owner.release()


class CudaDevice:
    """One GPU through pycuda: its shared primary context, the one stream every kernel and
    copy of the frame path runs on, and the loaded kernel modules."""

    executor = "device"

    def __init__(self, index: int = 0, memory_mode: MemoryMode | None = None) -> None:
        self.owner = PrimaryContext.acquire(index)
        self.device = self.owner.device
        try:
            with self.owner.active():
                attr = cuda.device_attribute
                can_map = bool(self.device.get_attribute(attr.CAN_MAP_HOST_MEMORY))
                auto = choose_memory_mode(bool(self.device.get_attribute(attr.INTEGRATED)), can_map)
                mode = memory_mode or memory_mode_from_env() or auto
                if mode == "mapped" and not can_map:
                    raise UserError(f"{self.device.name()} cannot map host memory: use pinned.")
                self.mode: MemoryMode = mode
                self.stream = cuda.Stream()
        except BaseException:
            self.owner.release()
            raise
        self.name = str(self.device.name())
        major, minor = self.device.compute_capability()
        self.compute_capability = (int(major), int(minor))
        self._modules: dict[str, Any] = {}
        self.closed = False
        log.info("CUDA %s (sm_%d%d): %s frames", self.name, major, minor, self.mode)

    def active(self) -> AbstractContextManager[None]:
        return self.owner.active()

    def mem_alloc(self, nbytes: int) -> _PycudaAllocation:
        return _PycudaAllocation(cuda.mem_alloc(max(nbytes, 1)))

    def host_alloc(
        self, shape: tuple[int, ...], dtype: npt.DTypeLike, mapped: bool
    ) -> _PycudaPinned:
        flags = cuda.host_alloc_flags.DEVICEMAP if mapped else 0
        array = cuda.pagelocked_empty(shape, dtype, mem_flags=flags)
        alias = cast("cuda.HostAllocation", array.base).get_device_pointer() if mapped else None
        return _PycudaPinned(array, alias)

    def memcpy_htod(self, ptr: int, src: npt.NDArray[Any], asynchronous: bool = False) -> None:
        if asynchronous:  # src must be page-locked
            cuda.memcpy_htod_async(ptr, src, self.stream)
        else:
            cuda.memcpy_htod(ptr, np.ascontiguousarray(src))

    def memcpy_dtoh(self, dst: npt.NDArray[Any], ptr: int, asynchronous: bool = False) -> None:
        if asynchronous:
            cuda.memcpy_dtoh_async(dst, ptr, self.stream)
        else:
            self.stream.synchronize()
            cuda.memcpy_dtoh(dst, ptr)

    def memcpy_dtod(self, dst: int, src: int, nbytes: int) -> None:
        cuda.memcpy_dtod_async(dst, src, nbytes, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def record_event(self) -> _PycudaEvent:
        return _PycudaEvent(self.stream)

    def load_function(self, source_name: str, name: str) -> Callable[..., None]:
        from runtime.cuda.build import load_module

        module = self._modules.get(source_name)
        if module is None:
            module = self._modules[source_name] = load_module(source_name, self.compute_capability)
        return cast(Callable[..., None], module.get_function(name))

    def free_when_collected(self, array: npt.NDArray[Any], memory: _PycudaPinned) -> None:
        owner = self.owner
        with owner._lock:
            owner.users += 1  # the context must outlive the memory
        # The callback must not refer to the array (it would never be collected); the
        # allocation does not. It runs before the array drops its base, so the free below
        # happens here, with the context current, not in pycuda's destructor.
        allocation = cast("cuda.HostAllocation", memory.array.base)
        weakref.finalize(array, _free_pinned, owner, allocation)

    def close(self) -> None:
        """Drop the stream and modules with the context current, then release the context
        (from any thread, outside `active()`)."""
        if self.closed:
            return
        self.closed = True
        with self.owner.active():
            self.stream.synchronize()
            self._modules.clear()
            del self.stream
        self.owner.release()


def open_device(executor: Executor | None = None, memory_mode: MemoryMode | None = None) -> Device:
    """The GPU (pycuda) or, with BODYPIX_CUDA_EXECUTOR=host, the host executor."""
    chosen = executor or executor_from_env()
    if chosen == "host":
        from runtime.cuda.host_executor import HostDevice

        return HostDevice(memory_mode or memory_mode_from_env() or "pinned")
    require_pycuda()
    return CudaDevice(memory_mode=memory_mode)
