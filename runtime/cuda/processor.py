"""One frame through the GPU: pre-process -> segment -> mask -> composite, on one CUDA stream.

`CudaFrameProcessor` is the GPU twin of `runtime.processor.FrameProcessor` and implements the
same `FrameProcessorProtocol` (runtime/processor_protocol.py). Its steps live beside the CPU
modules they reproduce: mask.py (runtime/mask.py), compositing.py + blur.py (runtime/effects),
buffers.py (memory), kernels.py (launchers of the .cu files); this module only orders them,
runs inference and owns the threads' discipline:

- every public method takes the processor's lock and makes the CUDA context current on the
  calling thread (segment on the inference thread, composite on the output thread, capture
  buffers on the capture thread, close from anywhere);
- buffers are freed explicitly with the context current, never by the garbage collector.

Backends: one that exposes device buffers (`DeviceSegmentationBackend`, the TensorRT backend)
gets the pre-processed input written straight into its input binding and its logits read where
they are; any other backend (OpenVINO, ONNX Runtime) gets the GPU's pre-processed input copied
to the host and its logits uploaded.

Length (over 400 lines): one class, because every public method shares the lock and the
context discipline above; the steps it orders already live in their twin modules, and what is
left (staging, inference, the settings a new backend needs) reads best next to that discipline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from core.arrays import F32, U8
from core.catalog import get_variant
from core.errors import UserError
from core.lazy import lazy_import
from runtime.backends.base import SegmentationBackend
from runtime.cuda.buffers import (
    CaptureFrames,
    DeviceBuffer,
    FrameBuffers,
    FrameFormat,
    HostFrame,
    frame_shape,
)
from runtime.cuda.compositing import BackgroundImage, composite
from runtime.cuda.device import Device, open_device
from runtime.cuda.kernels import TIMING_WINDOW, Kernels
from runtime.cuda.mask import DeviceLogits, make_mask
from runtime.geometry import FrameGeometry, frame_geometry
from runtime.processor_protocol import FrameProcessorProtocol, ProcessorDescription
from runtime.settings import Settings

if TYPE_CHECKING:
    import pycuda.driver as cuda
else:
    cuda = lazy_import("pycuda.driver")

log = logging.getLogger(__name__)

# Output names of the exported model (convert/, runtime/backends/tensorrt).
SEGMENTS_OUTPUT, PART_HEATMAPS_OUTPUT = "segments", "part_heatmaps"
# Settings whose change needs a new backend (as runtime.processor).
_BACKEND_FIELDS = ("variant", "backend", "threads")


class DeviceTensorLike(Protocol):
    """runtime.backends.tensorrt.backend.DeviceTensor: a binding's address and dtype."""

    @property
    def pointer(self) -> int: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...


@runtime_checkable
class DeviceSegmentationBackend(Protocol):
    """The device path of the TensorRT backend (runtime/backends/tensorrt/backend.py): the
    pre-process writes `device_input()`, `enqueue()` runs the engine on `stream_handle`, the
    mask kernels read `device_outputs()`; nothing crosses to the host. Construct it with
    `stream=` this processor's device stream so all of it is ordered on one stream."""

    name: str

    @property
    def stream_handle(self) -> int: ...

    def device_input(self) -> DeviceTensorLike: ...

    def device_outputs(self) -> Mapping[str, DeviceTensorLike]: ...

    def set_input_size(self, height: int, width: int) -> None: ...

    def enqueue(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class CudaSegmentation:
    """The segmentation of the newest frame, resident on the GPU (mask in the state buffer)."""

    geometry: FrameGeometry
    parts: bool


def default_backend(
    settings: Settings, input_size: tuple[int, int], device: Device
) -> SegmentationBackend | DeviceSegmentationBackend:
    """A TensorRT engine matching this model input, on the device's stream (device buffers);
    otherwise the CPU backend (`create_cpu_backend`) between the CUDA pre- and post-processing."""
    if settings.backend in ("auto", "tensorrt") and device.executor == "device":
        from runtime.backends.tensorrt import open_tensorrt_backend, usable_engine
        from runtime.backends.tensorrt.backend import TensorRTBackend

        if settings.backend == "tensorrt":
            backend = open_tensorrt_backend(settings.variant, input_size)
            if isinstance(backend, TensorRTBackend):
                return backend
        engine = usable_engine(settings.variant, input_size)
        if engine is not None:
            return TensorRTBackend(engine, settings.variant, stream=device.stream)
    from runtime.backends import create_cpu_backend

    return create_cpu_backend(settings)


class CudaFrameProcessor:
    """BodyPix segmentation and compositing of camera frames on an NVIDIA GPU (or, for CI, on
    the host executor).

    `backend` may be given (the processor then never replaces or closes it); otherwise one is
    made per model input size by `default_backend`. `device` likewise (else `open_device()`,
    closed with the processor). Frames are BGR [h, w, 3] or, with `frame_format="YUYV"`,
    YUYV [h, w, 2]; outputs BGR or YUYV (`output_format`).
    """

    def __init__(
        self,
        settings: Settings,
        backend: SegmentationBackend | DeviceSegmentationBackend | None = None,
        device: Device | None = None,
        frame_format: FrameFormat = "BGR",
        output_format: FrameFormat = "BGR",
        kernels: Kernels | None = None,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._owns_backend = backend is None
        self._owns_device = device is None
        self.dev: Device = device if device is not None else open_device()
        try:
            self.kernels = kernels or Kernels(self.dev)
        except BaseException:
            if self._owns_device:
                self.dev.close()
            raise
        self.frame_format = frame_format
        self.output_format = output_format
        self._stride = get_variant(settings.variant).stride
        self._buffers: FrameBuffers | None = None
        self._retired: list[FrameBuffers | CaptureFrames] = []  # freed at close()
        self._capture: CaptureFrames | None = None
        self._background = BackgroundImage()
        self._staged: tuple[npt.NDArray[np.uint8], int] | None = None
        self._inference_ms: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._closed = False
        # segment(), composite() and capture_frames() run on different threads; each sequence
        # of enqueued kernels shares scratch buffers, so it runs under this lock (released
        # while a host backend runs inference).
        self._lock = threading.RLock()

    # --- protocol: describe and measure -------------------------------------------------

    @property
    def backend(self) -> SegmentationBackend | DeviceSegmentationBackend | None:
        return self._backend

    @property
    def uses_host_backend(self) -> bool:
        """True when the logits go through the host (no device-buffer backend)."""
        return not isinstance(self._backend, DeviceSegmentationBackend)

    def describe(self) -> ProcessorDescription:
        backend = self._backend
        name = backend.name if backend is not None else self.settings.backend
        model = getattr(backend, "engine_path", None) or getattr(backend, "path", None)
        return ProcessorDescription(
            backend=name,
            model_file=str(model) if model is not None else None,
            frame_path="cuda",
            detail={
                "executor": self.dev.executor,
                "memory": self.dev.mode,
                "device": self.dev.name,
                "inference": "host" if self.uses_host_backend else "device buffers",
                "frame_format": self.frame_format,
                "output_format": self.output_format,
            },
            fixed_size=getattr(backend, "input_size", None) is not None,
        )

    def stage_ms(self) -> Mapping[str, float]:
        """Mean milliseconds per launch of each kernel over the recent frames (CUDA events on
        a GPU, wall time on the host executor), plus `inference` (wall time)."""
        with self._lock:
            times = dict(self.kernels.mean_ms())
            if self._inference_ms:
                times["inference"] = float(np.mean(self._inference_ms))
        return times

    # --- buffers --------------------------------------------------------------------------

    def geometry(self, height: int, width: int) -> FrameGeometry:
        return frame_geometry(height, width, self.settings.internal_resolution, self._stride)

    def buffers(self, height: int, width: int) -> FrameBuffers:
        """The buffers for frames of this size, allocated on the first frame of a new size."""
        with self._lock, self.dev.active():
            return self._buffers_for(height, width)

    def _buffers_for(self, height: int, width: int) -> FrameBuffers:
        geometry = self.geometry(height, width)
        current = self._buffers
        if current is None or current.geometry != geometry:
            self.dev.synchronize()
            if current is not None:
                current.free()
                self._buffers = None
            current = self._buffers = FrameBuffers(self.dev, geometry, self.frame_format)
            self._staged = None
        return current

    def capture_frames(self, height: int, width: int, count: int) -> list[U8]:
        """`count` page-locked frames (on Jetson GPU-mapped) that capture may decode into; a
        frame given back to segment/composite is read in place (mapped) or copied by DMA
        (pinned). BGR [h, w, 3] (YUYV processors: [h, w, 2]). Frames of an earlier ring stay
        valid until close()."""
        if count < 1:
            raise ValueError(f"a capture ring needs at least one frame, not {count}")
        shape = frame_shape(height, width, self.frame_format)
        with self._lock, self.dev.active():
            self._check_open()
            current = self._capture
            if (
                current is not None
                and len(current.frames) == count
                and current.frames[0].host.shape == shape
            ):  # asked again: the same ring
                return [frame.host for frame in current.frames]
            if current is not None:
                self._retired.append(current)
            ring = CaptureFrames(self.dev, shape, count)
            self._capture = ring
            return [frame.host for frame in ring.frames]

    def input_frame(self, height: int, width: int) -> U8:
        """A pinned frame to capture into: the current ring's first (or a ring of one)."""
        with self._lock:
            current = self._capture
            if current is not None and current.frames[0].host.shape == frame_shape(
                height, width, self.frame_format
            ):
                return current.frames[0].host
        return self.capture_frames(height, width, 1)[0]

    def frame_size_of(self, frame: U8) -> tuple[int, int]:
        """(h, w) of a BGR [h, w, 3] or YUYV [h, w, 2] (or packed [h, 2w]) frame."""
        if self.frame_format == "YUYV" and frame.ndim == 2:
            return frame.shape[0], frame.shape[1] // 2
        return frame.shape[0], frame.shape[1]

    def _stage_frame(self, frame: U8, for_segment: bool = False) -> tuple[FrameBuffers, int]:
        """The buffers for this frame and the device address the kernels read it from
        (`for_segment`: one composite() never overwrites, as the mask step reads the frame
        after inference)."""
        if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3):
            raise UserError(f"Frame {type(frame).__name__} is not an image array.")
        height, width = self.frame_size_of(frame)
        buffers = self._buffers_for(height, width)
        if frame.ndim == 2 and self.frame_format == "YUYV" and frame.shape == (height, 2 * width):
            frame = frame.reshape(height, width, 2)
        if frame.shape != buffers.frame.host.shape or frame.dtype != np.uint8:
            raise UserError(
                f"Frame of shape {frame.shape} is not a {width}x{height} {self.frame_format} "
                "uint8 frame: capture in the processor's frame format."
            )
        captured: HostFrame | None = self._capture.find(frame) if self._capture else None
        if captured is not None:  # capture decoded into our pinned memory: no host copy
            captured.upload()  # mapped: nothing to do; pinned: one DMA copy
            self._staged = None
            return buffers, captured.device_ptr
        staging = buffers.segment_frame if for_segment else buffers.frame
        if (
            self._staged is not None
            and self._staged[0] is frame
            and (not for_segment or self._staged[1] == staging.device_ptr)
        ):
            # segment() then composite() of one frame object: copied once (frames handed over
            # as plain arrays are treated as immutable, as the CPU path does).
            return buffers, self._staged[1]
        self.dev.synchronize()  # the previous frame's kernels may still read the staging frame
        np.copyto(staging.host, frame)
        staging.upload()
        self._staged = (frame, staging.device_ptr)
        return buffers, staging.device_ptr

    # --- segmentation -----------------------------------------------------------------------

    def _backend_for(
        self, geometry: FrameGeometry
    ) -> SegmentationBackend | DeviceSegmentationBackend:
        backend = self._backend
        input_size = geometry.input_size
        fixed = getattr(backend, "input_size", None)
        if backend is not None and fixed not in (None, input_size):
            if not self._owns_backend:
                raise UserError(
                    f"The {backend.name} backend was built for input {fixed}, but this frame "
                    f"needs {input_size[0]}x{input_size[1]}: build it for that size or change "
                    "the resolution."
                )
            backend.close()
            backend = self._backend = None
        if backend is None:
            backend = self._backend = default_backend(self.settings, input_size, self.dev)
        if isinstance(backend, DeviceSegmentationBackend):
            backend.set_input_size(*input_size)
        return backend

    def preprocess(
        self, buffers: FrameBuffers, frame_ptr: int, target: int | None = None, fp16: bool = False
    ) -> None:
        """runtime.resample.preprocess (pad-to-aspect + TF bilinear resize, BGR -> RGB) into
        the model input, or into `target` (a TensorRT input binding)."""
        input_h, input_w = buffers.geometry.input_size
        self.kernels.preprocess(
            frame_ptr, buffers.frame_pitch, buffers.format, buffers.preprocess_rows.ptr,
            buffers.preprocess_cols.ptr, input_h, input_w,
            target if target is not None else buffers.model_input.ptr, fp16,
        )  # fmt: skip

    def _infer(self, buffers: FrameBuffers, frame_ptr: int, parts: bool) -> DeviceLogits:
        backend = self._backend_for(buffers.geometry)
        if isinstance(backend, DeviceSegmentationBackend):
            binding = backend.device_input()
            self.preprocess(buffers, frame_ptr, binding.pointer, binding.dtype == np.float16)
            same_stream = backend.stream_handle == int(self.dev.stream.handle)
            if not same_stream:  # correct but slower: the two streams meet on the host
                self.dev.synchronize()
            started = time.perf_counter()
            backend.enqueue()
            if not same_stream:
                cuda.Context.synchronize()
            self._inference_ms.append((time.perf_counter() - started) * 1e3)
            outputs = backend.device_outputs()
            segments = outputs[SEGMENTS_OUTPUT]
            heatmaps = outputs.get(PART_HEATMAPS_OUTPUT) if parts else None
            return DeviceLogits(
                segments.pointer,
                heatmaps.pointer if heatmaps is not None else None,
                segments.dtype == np.float16,
            )
        # Host backend: the GPU's model input goes to the host, the logits come back.
        staging = buffers.input_host
        self.preprocess(buffers, frame_ptr, staging.device_ptr if staging.mapped else None)
        if not staging.mapped:
            self.dev.memcpy_dtoh(staging.host, buffers.model_input.ptr, asynchronous=True)
        self.dev.synchronize()
        model_input = staging.host.copy()  # composite() may stage the next frame meanwhile
        started = time.perf_counter()
        self._lock.release()
        try:
            logits = backend.run(model_input, parts=parts)
        finally:
            self._lock.acquire()
        self._inference_ms.append((time.perf_counter() - started) * 1e3)
        if self._buffers is not buffers:  # the frame size changed meanwhile: stale
            raise UserError("The frame size changed during inference: segment this size again.")
        buffers.segments.upload(logits.segments)
        heatmaps_ptr: int | None = None
        if parts:
            if logits.part_heatmaps is None:
                raise UserError(
                    f"The {backend.name} backend returned no part heatmaps: use a model file "
                    "exported with the part_heatmaps output (`python -m convert export-onnx`)."
                )
            buffers.part_heatmaps.upload(logits.part_heatmaps)
            heatmaps_ptr = buffers.part_heatmaps.ptr
        return DeviceLogits(buffers.segments.ptr, heatmaps_ptr, False)

    def segment(self, frame: U8, parts: bool | None = None) -> CudaSegmentation:
        """Segment one frame; the mask (and part ids) stay on the GPU for `composite`."""
        want = self.settings.effect == "parts" if parts is None else parts
        with self._lock, self.dev.active():
            self._check_open()
            buffers, frame_ptr = self._stage_frame(frame, for_segment=True)
            logits = self._infer(buffers, frame_ptr, want)
            make_mask(self.kernels, buffers, logits, self.settings, want, frame_ptr)
            # Done with the frame when this returns: capture may reuse its ring slot.
            self.dev.synchronize()
            self.kernels.collect()
            return CudaSegmentation(buffers.geometry, want)

    def model_input(self, frame: U8, fp16: bool = False) -> npt.NDArray[Any]:
        """The pre-processed model input of `frame`, copied back (tests, debugging)."""
        with self._lock, self.dev.active():
            buffers, frame_ptr = self._stage_frame(frame)
            if not fp16:
                self.preprocess(buffers, frame_ptr)
                return buffers.model_input.download()
            target = DeviceBuffer(self.dev, buffers.model_input.shape, np.float16)
            try:
                self.preprocess(buffers, frame_ptr, target.ptr, True)
                return target.download()
            finally:
                target.free()

    def download_mask(self) -> F32:
        """The newest mask at frame size (tests, the panel's mask preview)."""
        with self._lock, self.dev.active():
            if self._buffers is None:
                raise UserError("No frame was segmented yet: call segment() first.")
            mask: F32 = self._buffers.state.download()
            return mask

    def download_part_ids(self) -> npt.NDArray[np.int8]:
        with self._lock, self.dev.active():
            if self._buffers is None:
                raise UserError("No frame was segmented yet: call segment() first.")
            ids: npt.NDArray[np.int8] = self._buffers.ids.download()
            return ids

    # --- compositing ------------------------------------------------------------------------

    def composite(self, frame: U8, segmentation: Any = None) -> U8:
        """The effect applied to `frame` with the newest mask, as BGR [h, w, 3] or YUYV
        [h, w, 2] (`output_format`). The processor never writes the returned array again."""
        with self._lock, self.dev.active():
            self._check_open()
            buffers, frame_ptr = self._stage_frame(frame)
            if isinstance(segmentation, CudaSegmentation) and (
                segmentation.geometry != buffers.geometry
            ):
                raise UserError(
                    "The mask was made for another frame size: segment this size first."
                )
            if not buffers.has_state:
                raise UserError("No frame of this size was segmented yet: call segment() first.")
            outputs = buffers.out_yuyv if self.output_format == "YUYV" else buffers.out_bgr
            if outputs is None:
                raise UserError(
                    f"YUYV output needs an even frame width, not {buffers.geometry.frame_size[1]}."
                )
            target, held_by_nobody = outputs.target()
            composite(
                self.kernels, buffers, self.settings, frame_ptr, target.device_ptr,
                self.output_format, self._background,
            )  # fmt: skip
            target.download()
            self.dev.synchronize()
            self.kernels.collect()
            # Every pooled frame still held by an output: hand out a copy of the spare one.
            return target.host if held_by_nobody else target.host.copy()

    def process(self, frame: U8) -> U8:
        """Segment and composite one frame (the frame crosses to the GPU once)."""
        return self.composite(frame, self.segment(frame))

    # --- settings and lifetime ---------------------------------------------------------------

    def update_settings(self, settings: Settings) -> None:
        with self._lock:
            old = self.settings
            self.settings = settings
            self._stride = get_variant(settings.variant).stride
            if (
                self._owns_backend
                and self._backend is not None
                and any(getattr(old, name) != getattr(settings, name) for name in _BACKEND_FIELDS)
            ):
                self._backend.close()
                self._backend = None
            if self._buffers is not None and (
                old.variant != settings.variant
                or old.internal_resolution != settings.internal_resolution
                or settings.smoothing == 0
                or old.smoothing_method != settings.smoothing_method
            ):
                self._buffers.restart_smoothing = True

    def reset_smoothing(self) -> None:
        """Forget the previous mask (a new scene or source)."""
        with self._lock:
            if self._buffers is not None:
                self._buffers.restart_smoothing = True

    def _check_open(self) -> None:
        if self._closed:
            raise UserError("The CUDA frame processor was closed: create a new one.")

    def close(self) -> None:
        """Free everything with the context current (from any thread); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self.dev.active():
                self.dev.synchronize()
                self._background.close()
                for item in [self._buffers, self._capture, *self._retired]:
                    if item is not None:
                        item.free()
                self._buffers, self._capture, self._staged = None, None, None
                self._retired.clear()
                if self._owns_backend and self._backend is not None:
                    self._backend.close()
                    self._backend = None
                if self._owns_device:  # the modules are unloaded with the context current
                    self.kernels.functions.clear()
            if self._owns_device:
                self.dev.close()


# The protocol check mypy runs: the CUDA path is a drop-in for the CPU one.
_protocol_check: type[FrameProcessorProtocol] = CudaFrameProcessor
