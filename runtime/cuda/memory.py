"""Device memory and the one CUDA stream of the frame path.

Integrated GPUs (every Jetson) share DRAM with the CPU: capture and output frames live in mapped
pinned host memory that kernels read and write through a device alias, so no copy at all
(zero-copy). Discrete GPUs: pinned host buffers plus a device buffer each, copied
asynchronously on the same stream so the copy of frame N+1 overlaps the kernels of frame N.
Everything is allocated once per resolution by `FrameBuffers`, never per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from convert.errors import MissingExtraError, UserError

if TYPE_CHECKING:
    import pycuda.driver as cuda

log = logging.getLogger(__name__)

MemoryMode = Literal["zero-copy", "pinned-async"]


def choose_memory_mode(integrated: bool, can_map_host_memory: bool) -> MemoryMode:
    """Zero-copy only where the GPU shares the host's memory; on a discrete GPU mapped memory
    would cross PCIe on every access, so pinned buffers with one async copy each are faster."""
    return "zero-copy" if integrated and can_map_host_memory else "pinned-async"


def require_pycuda() -> None:
    """Fail with a clear error naming the extra that installs pycuda, before any CUDA call."""
    try:
        import pycuda.driver  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("gpu", "pycuda", "The CUDA frame path") from exc


class CudaDevice:
    """The primary context of one GPU, shared with TensorRT (which uses the runtime API and so
    the primary context), and the one stream every kernel and copy of the frame path runs on."""

    def __init__(self, index: int = 0) -> None:
        require_pycuda()
        import pycuda.driver as cuda

        cuda.init()
        count = cuda.Device.count()
        if count <= index:
            raise UserError(
                f"CUDA device {index} does not exist ({count} found): check the NVIDIA driver "
                "with nvidia-smi, or use --backend onnxruntime."
            )
        self.device = cuda.Device(index)
        self.context = self.device.retain_primary_context()
        self.context.push()
        attr = cuda.device_attribute
        self.mode: MemoryMode = choose_memory_mode(
            bool(self.device.get_attribute(attr.INTEGRATED)),
            bool(self.device.get_attribute(attr.CAN_MAP_HOST_MEMORY)),
        )
        self.stream = cuda.Stream()
        log.info("CUDA %s (sm_%d%d): %s frames", self.name, *self.compute_capability, self.mode)

    @property
    def name(self) -> str:
        return str(self.device.name())

    @property
    def compute_capability(self) -> tuple[int, int]:
        major, minor = self.device.compute_capability()
        return int(major), int(minor)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the context current on the calling thread (the live pipeline segments and
        composites on different threads; a CUDA context is current per thread)."""
        import pycuda.driver as cuda

        self.context.push()
        try:
            yield
        finally:
            cuda.Context.pop()

    def close(self) -> None:
        import pycuda.driver as cuda

        self.stream.synchronize()
        cuda.Context.pop()
        self.context.detach()


class HostFrame:
    """A frame buffer the host fills or reads (capture, output) and the kernels access.

    `host` is page-locked; `device_ptr` is its mapped alias (zero-copy) or a device buffer that
    `upload`/`download` copy to/from asynchronously on the stream (pinned-async).
    """

    def __init__(self, dev: CudaDevice, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        import pycuda.driver as cuda

        self._dev = dev
        self.mapped = dev.mode == "zero-copy"
        flags = cuda.host_alloc_flags.DEVICEMAP if self.mapped else 0
        self.host: npt.NDArray[Any] = cuda.pagelocked_empty(shape, dtype, mem_flags=flags)
        self._device: cuda.DeviceAllocation | None = None
        if self.mapped:
            allocation = cast("cuda.HostAllocation", self.host.base)
            self.device_ptr = allocation.get_device_pointer()
        else:
            self._device = cuda.mem_alloc(self.host.nbytes)
            self.device_ptr = int(self._device)

    def upload(self) -> None:
        """Make the host contents visible to the next kernel on the stream."""
        if self._device is not None:
            import pycuda.driver as cuda

            cuda.memcpy_htod_async(self._device, self.host, self._dev.stream)

    def download(self) -> None:
        """Queue the copy back; the host array is valid after the stream synchronises."""
        if self._device is not None:
            import pycuda.driver as cuda

            cuda.memcpy_dtoh_async(self.host, self._device, self._dev.stream)


class DeviceBuffer:
    """Device-only scratch (model input, probabilities, alpha, blur planes)."""

    def __init__(self, dev: CudaDevice, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        import pycuda.driver as cuda

        self._dev = dev
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self._alloc = cuda.mem_alloc(max(self.nbytes, 1))
        self.ptr = int(self._alloc)

    def upload(self, array: npt.NDArray[Any]) -> None:
        """Synchronous upload of something that changes rarely (tables, a background)."""
        data = np.ascontiguousarray(array, dtype=self.dtype)
        if data.nbytes != self.nbytes:
            raise ValueError(f"upload of {data.nbytes} bytes into a {self.nbytes}-byte buffer")
        import pycuda.driver as cuda

        cuda.memcpy_htod(self._alloc, data)

    def upload_async(self, pinned: npt.NDArray[Any]) -> None:
        import pycuda.driver as cuda

        cuda.memcpy_htod_async(self._alloc, pinned, self._dev.stream)

    def download(self) -> npt.NDArray[Any]:
        """Synchronous copy to a new host array (tests, debugging)."""
        import pycuda.driver as cuda

        self._dev.stream.synchronize()
        out = np.empty(self.shape, self.dtype)
        cuda.memcpy_dtoh(out, self._alloc)
        return out


def device_table(dev: CudaDevice, table: npt.NDArray[Any]) -> DeviceBuffer:
    buffer = DeviceBuffer(dev, table.shape, table.dtype)
    buffer.upload(table)
    return buffer
