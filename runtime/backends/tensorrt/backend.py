"""`SegmentationBackend` on a TensorRT engine: device buffers once, one CUDA stream, pinned host.

The engine must come with its sidecar and match the running TensorRT version and GPU; anything
else is refused with the command that rebuilds it. Inputs and outputs are bound by tensor name
(TensorRT >= 8.5 I/O API) and inference is `execute_async_v3` on a pycuda stream.

Two ways to use it:
- host path (`run`): copies the image in, runs, copies `segments` (and `part_heatmaps` when
  asked) back into pinned buffers, synchronises, returns `Logits`;
- device path (CUDA frame path): kernels write the model input straight into
  `device_input().pointer` on `stream`, then `enqueue()` runs the engine on that same stream and
  the kernels read `device_outputs()`; nothing crosses to the host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from core.errors import MissingExtraError, UserError
from core.lazy import lazy_import, load
from runtime.backends.base import F32, Logits

if TYPE_CHECKING:
    import pycuda.driver as cuda
    import tensorrt as trt

    from convert.engine.sidecar import EngineSidecar
else:
    cuda = lazy_import("pycuda.driver")
    trt = lazy_import("tensorrt")

log = logging.getLogger(__name__)

INPUT, SEGMENTS, PART_HEATMAPS = "image", "segments", "part_heatmaps"


@dataclass(frozen=True)
class DeviceTensor:
    """One engine input or output buffer in device memory, as the CUDA kernels need it."""

    name: str
    pointer: int  # CUdeviceptr, valid until the backend is closed
    shape: tuple[int, ...]  # the current shape (NHWC), e.g. (1, 23, 41, 1) for segments
    dtype: np.dtype[Any]  # float32 for this project's engines (FP16 engines keep FP32 I/O)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


def numpy_dtype(name: str) -> np.dtype[Any]:
    """NumPy dtype of a TensorRT DataType name (FLOAT, HALF, INT32, INT8, BOOL, ...)."""
    table = {
        "FLOAT": np.float32,
        "HALF": np.float16,
        "INT32": np.int32,
        "INT64": np.int64,
        "INT8": np.int8,
        "UINT8": np.uint8,
        "BOOL": np.bool_,
    }
    if name not in table:
        raise UserError(
            f"The engine uses tensor type {name}, which this runtime cannot exchange: rebuild it "
            "from the project's ONNX with `python -m convert build-engine --force`."
        )
    return np.dtype(table[name])


class _Binding:
    """Device buffer (sized for the largest shape) and pinned host mirror of one I/O tensor."""

    def __init__(self, name: str, max_shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = max_shape
        self.host: npt.NDArray[Any] = cuda.pagelocked_empty(max_shape, dtype)
        self.device: cuda.DeviceAllocation = cuda.mem_alloc(max(self.host.nbytes, 1))

    def host_view(self) -> npt.NDArray[Any]:
        """The pinned host buffer viewed at the current shape."""
        count = int(np.prod(self.shape))
        return self.host.reshape(-1)[:count].reshape(self.shape)

    def free(self) -> None:
        """Both buffers, explicitly (call with the context current): never left to the
        collector, which may run on a thread without the context."""
        self.device.free()
        cast("cuda.HostAllocation", self.host.base).free()


class TensorRTBackend:
    """Runs a BodyPix TensorRT engine. Not thread-safe: one caller at a time (the pipeline's)."""

    name = "tensorrt"

    def __init__(
        self,
        engine_path: str | Path,
        variant: str | None = None,
        stream: cuda.Stream | None = None,
    ) -> None:
        from convert.engine.gpu import current_gpu
        from convert.engine.sidecar import Expected, check_engine_files
        from convert.engine.tensorrt_support import require_tensorrt

        self.engine_path = Path(engine_path)
        version = require_tensorrt("The TensorRT backend")
        try:
            load(cuda)
        except ImportError:
            raise MissingExtraError("gpu", "pycuda", "The TensorRT backend") from None

        gpu = current_gpu()
        self.sidecar: EngineSidecar = check_engine_files(
            self.engine_path, Expected(tensorrt_version=version, gpu=gpu)
        )
        if variant is not None and self.sidecar.variant not in (None, variant):
            raise UserError(
                f"TensorRT engine {self.engine_path.name} was built for {self.sidecar.variant}, "
                f"not {variant}: build one with `python -m convert build-engine {variant}`."
            )
        # The GPU's primary context, retained once per process and shared with the CUDA
        # frame path (runtime/cuda/device.py), which runs its kernels on the same stream.
        from runtime.cuda.device import PrimaryContext

        self._primary = PrimaryContext.acquire(0)
        self._bindings: dict[str, _Binding] = {}
        try:
            with self.activate():
                self._load(version, stream)
        except BaseException:
            with self.activate():
                self._release_buffers()
            self._primary.release()
            raise
        self._input_shape: tuple[int, ...] | None = None
        log.info(
            "TensorRT %s engine %s (%s) on %s",
            version,
            self.engine_path.name,
            self.sidecar.precision,
            gpu.name,
        )

    # -- SegmentationBackend --------------------------------------------------------------

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The engine's fixed (H, W); None for a dynamic-size engine (any size in its profile)."""
        return self.sidecar.input_size

    def run(self, image: F32, parts: bool = False) -> Logits:
        """`image` is [H, W, 3] float32 RGB 0..255; returns logits at stride resolution."""
        batch = np.ascontiguousarray(image, dtype=np.float32)[None]
        wanted = (
            [SEGMENTS, PART_HEATMAPS] if parts and PART_HEATMAPS in self._bindings else [SEGMENTS]
        )

        with self.activate():
            self._set_input_shape(batch.shape)
            binding = self._bindings[INPUT]
            host_in = binding.host_view()
            host_in[...] = batch.astype(binding.dtype, copy=False)
            cuda.memcpy_htod_async(binding.device, host_in, self.stream)
            self._execute()
            outs = {name: self._bindings[name].host_view() for name in wanted}
            for name, host in outs.items():
                cuda.memcpy_dtoh_async(host, self._bindings[name].device, self.stream)
            self.stream.synchronize()
        # Copies: the pinned buffers are reused by the next frame.
        segments = outs[SEGMENTS][0, :, :, 0].astype(np.float32)
        heatmaps = outs[PART_HEATMAPS][0].astype(np.float32) if PART_HEATMAPS in outs else None
        return Logits(segments=segments, part_heatmaps=heatmaps)

    def close(self) -> None:
        if not self._bindings:
            return
        with self.activate():
            self.stream.synchronize()
            self._release_buffers()
            # Context before engine before runtime, in this thread, with the context current.
            del self._context
            del self._engine
            del self._runtime
            if self._owns_stream:
                del self.stream
        self._primary.release()

    # -- device path ---------------------------------------------------------------------

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make the GPU's primary context (shared with the CUDA frame path) current here."""
        with self._primary.active():
            yield

    @property
    def stream_handle(self) -> int:
        """The CUstream the engine runs on, for kernels that must run in order with it."""
        return int(self.stream.handle)

    def device_input(self) -> DeviceTensor:
        """The `image` buffer [1, H, W, 3] float32 RGB 0..255 that the pre-process writes."""
        return self._device_tensor(INPUT)

    def device_outputs(self) -> dict[str, DeviceTensor]:
        """`segments` [1, h, w, 1] and `part_heatmaps` [1, h, w, 24] logits on the device."""
        return {name: self._device_tensor(name) for name in self._bindings if name != INPUT}

    def set_input_size(self, height: int, width: int) -> None:
        """Dynamic engines: the size of the next input (output shapes follow)."""
        with self.activate():
            self._set_input_shape((1, height, width, 3))

    def enqueue(self) -> None:
        """Queue inference on `stream` without waiting; the input buffer must be filled first
        (by work queued earlier on the same stream)."""
        with self.activate():
            if self._input_shape is None:
                size = self.input_size
                if size is None:
                    raise UserError(
                        "A dynamic-size TensorRT engine needs set_input_size() before enqueue()."
                    )
                self._set_input_shape((1, size[0], size[1], 3))
            self._execute()

    # -- internals -----------------------------------------------------------------------

    def _load(self, version: str, stream: cuda.Stream | None) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        if self.sidecar.dla_core is not None:
            # An engine built for DLA core N must be deserialised onto that core.
            self._runtime.DLA_core = self.sidecar.dla_core
        engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise UserError(
                f"TensorRT {version} cannot load {self.engine_path.name} (see its messages "
                f"above): rebuild it with `{self.sidecar.rebuild_command()}`."
            )
        self._engine: trt.ICudaEngine = engine
        self._context: trt.IExecutionContext = engine.create_execution_context()
        self._owns_stream = stream is None
        self.stream: cuda.Stream = stream if stream is not None else cuda.Stream()
        self._dynamic = self._allocate(engine)

    def _release_buffers(self) -> None:
        for binding in self._bindings.values():
            binding.free()
        self._bindings.clear()

    def _device_tensor(self, name: str) -> DeviceTensor:
        binding = self._bindings[name]
        return DeviceTensor(name, int(binding.device), binding.shape, binding.dtype)

    def _allocate(self, engine: trt.ICudaEngine) -> bool:
        """Buffers for every I/O tensor at its largest shape, bound by name; True if dynamic."""
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [INPUT] or SEGMENTS not in names:
            raise UserError(
                f"TensorRT engine {self.engine_path.name} has inputs {inputs} and tensors {names}, "
                f"not BodyPix's `{INPUT}` -> `{SEGMENTS}`: rebuild it from the project's ONNX with "
                f"`{self.sidecar.rebuild_command()}`."
            )
        shape = _dims(engine.get_tensor_shape(INPUT))
        dynamic = any(d < 0 for d in shape)
        if dynamic:
            # The profile's largest input gives the largest outputs: size every buffer for it.
            shape = _dims(engine.get_tensor_profile_shape(INPUT, 0)[2])
            self._context.set_input_shape(INPUT, trt.Dims(list(shape)))
        for name in names:
            max_shape = shape if name == INPUT else _dims(self._context.get_tensor_shape(name))
            binding = _Binding(name, max_shape, numpy_dtype(engine.get_tensor_dtype(name).name))
            self._bindings[name] = binding
            if not self._context.set_tensor_address(name, int(binding.device)):
                raise UserError(
                    f"TensorRT refused the buffer for {name!r} of {self.engine_path.name}: "
                    f"rebuild the engine with `{self.sidecar.rebuild_command()}`."
                )
        return dynamic

    def _set_input_shape(self, shape: tuple[int, ...]) -> None:
        if shape == self._input_shape:
            return
        binding = self._bindings[INPUT]
        if not self._dynamic:
            if shape != binding.shape:
                raise UserError(
                    f"TensorRT engine {self.engine_path.name} takes input {binding.shape}, not "
                    f"{shape}: build one for this size with `python -m convert build-engine "
                    f"{self.sidecar.variant or ''} --height {shape[1]} --width {shape[2]}`."
                )
            self._input_shape = shape
            return

        if not self.sidecar.covers((shape[1], shape[2])) or not self._context.set_input_shape(
            INPUT, trt.Dims(list(shape))
        ):
            raise UserError(
                f"Input {shape[1]}x{shape[2]} is outside the sizes TensorRT engine "
                f"{self.engine_path.name} was built for ({self.sidecar.profile}): build a "
                "fixed-size engine for it with `python -m convert build-engine`."
            )
        binding.shape = shape
        for name, out in self._bindings.items():
            if name != INPUT:
                out.shape = _dims(self._context.get_tensor_shape(name))
        self._input_shape = shape

    def _execute(self) -> None:
        if not self._context.execute_async_v3(self.stream.handle):
            raise UserError(
                f"TensorRT could not run {self.engine_path.name} (see its messages above): "
                f"rebuild the engine with `{self.sidecar.rebuild_command()}`."
            )


def _dims(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))
