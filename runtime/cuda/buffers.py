"""Frame-path memory: device buffers, host frames, and everything sized by one frame geometry.

Integrated GPUs (every Jetson) share DRAM with the CPU: capture and output frames live in mapped
pinned host memory that kernels read and write through a device alias, so no copy at all
("mapped"). Discrete GPUs: pinned host buffers plus a device buffer, copied asynchronously on
the one stream ("pinned"). Everything is allocated once per resolution (`FrameBuffers`), never
per frame, and freed explicitly with the context current (`free()`), never by the collector.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import UserError
from runtime.cuda.device import Allocation, Device, PinnedMemory
from runtime.cuda.tables import RESAMPLE_TAP_DTYPE, Table, tables_from_sampling
from runtime.effects.parts import RAINBOW_PART_COLORS
from runtime.geometry import FrameGeometry
from runtime.mask import MOTION_SCALE, NUM_PARTS

FrameFormat = str  # "BGR" or "YUYV"
# Outputs kept by the consumer beyond this many are copied instead of pinning more memory.
MAX_OUTPUT_FRAMES = 8


class DeviceBuffer:
    """Device-only memory (model input, probabilities, alpha, blur planes, tables)."""

    def __init__(self, dev: Device, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        self._dev = dev
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self._allocation: Allocation = dev.mem_alloc(self.nbytes)
        self.ptr = self._allocation.ptr

    def upload(self, array: npt.NDArray[Any]) -> None:
        """Synchronous upload of something that changes rarely (tables, a background)."""
        data = np.ascontiguousarray(array, dtype=self.dtype)
        if data.nbytes != self.nbytes:
            raise ValueError(f"upload of {data.nbytes} bytes into a {self.nbytes}-byte buffer")
        self._dev.memcpy_htod(self.ptr, data)

    def download(self) -> npt.NDArray[Any]:
        """Synchronous copy to a new host array (tests, the mask preview)."""
        out = np.empty(self.shape, self.dtype)
        self._dev.synchronize()
        self._dev.memcpy_dtoh(out, self.ptr)
        return out

    def free(self) -> None:
        self._allocation.free()


def device_table(dev: Device, table: npt.NDArray[Any]) -> DeviceBuffer:
    buffer = DeviceBuffer(dev, table.shape, table.dtype)
    buffer.upload(table)
    return buffer


class HostFrame:
    """A frame the host fills or reads (capture, output) and the kernels access.

    `host` is page-locked; `device_ptr` is its mapped alias (mapped mode) or a device buffer
    that `upload` / `download` copy to / from asynchronously on the stream (pinned mode).
    """

    def __init__(self, dev: Device, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        self._dev = dev
        self.mapped = dev.mode == "mapped"
        self._pinned: PinnedMemory = dev.host_alloc(shape, dtype, self.mapped)
        self.host: npt.NDArray[Any] = self._pinned.array
        self._device: Allocation | None = None
        if self._pinned.device_ptr is not None:
            self.device_ptr = self._pinned.device_ptr
        else:
            self._device = dev.mem_alloc(self.host.nbytes)
            self.device_ptr = self._device.ptr
        # References to `host` held by this object and the allocator (views add more).
        self._own_references = sys.getrefcount(self.host)

    def held_elsewhere(self) -> bool:
        """Whether anything besides this frame refers to the array (or a view of it)."""
        return sys.getrefcount(self.host) > self._own_references

    def upload(self) -> None:
        """Make the host contents visible to the next kernel on the stream."""
        if self._device is not None:
            self._dev.memcpy_htod(self.device_ptr, self.host, asynchronous=True)

    def download(self) -> None:
        """Queue the copy back; the host array is valid after the stream synchronises."""
        if self._device is not None:
            self._dev.memcpy_dtoh(self.host, self.device_ptr, asynchronous=True)

    def free(self) -> None:
        if self._device is not None:
            self._device.free()
        self._pinned.free()

    def release(self) -> None:
        """Free now, or (host memory an output or the capture still holds) once its last
        holder lets go, with the context current on that thread."""
        if not self.held_elsewhere():
            self.free()
            return
        if self._device is not None:  # device memory is only ever ours
            self._device.free()
        self._dev.free_when_collected(self.host, self._pinned)


class OutputFrames:
    """Composited frames handed to outputs, which may keep them as long as they like: a frame
    is only written again once nothing but this pool refers to it (its array's reference
    count says so), otherwise another pinned frame is added, up to MAX_OUTPUT_FRAMES, then
    the result is copied."""

    def __init__(self, dev: Device, shape: tuple[int, ...]) -> None:
        self._dev = dev
        self.shape = shape
        self.frames: list[HostFrame] = []
        self._spare: HostFrame | None = None

    def target(self) -> tuple[HostFrame, bool]:
        """A frame to composite into and whether it may be handed out: False when every
        pooled frame is held and the pool is full (the spare frame, whose copy is returned)."""
        for frame in self.frames:
            if not frame.held_elsewhere():
                return frame, True
        if len(self.frames) < MAX_OUTPUT_FRAMES:
            frame = HostFrame(self._dev, self.shape, np.uint8)
            self.frames.append(frame)
            return frame, True
        if self._spare is None:
            self._spare = HostFrame(self._dev, self.shape, np.uint8)
        return self._spare, False

    def free(self) -> None:
        for frame in [*self.frames, *([self._spare] if self._spare else [])]:
            frame.release()
        self.frames.clear()
        self._spare = None


class CaptureFrames:
    """The ring capture decodes into (`capture_frames`): pinned, on Jetson GPU-mapped."""

    def __init__(self, dev: Device, shape: tuple[int, ...], count: int) -> None:
        self.frames = [HostFrame(dev, shape, np.uint8) for _ in range(count)]
        self.by_address = {int(frame.host.ctypes.data): frame for frame in self.frames}

    def find(self, array: npt.NDArray[np.uint8]) -> HostFrame | None:
        frame = self.by_address.get(int(array.ctypes.data))
        return frame if frame is not None and array.shape == frame.host.shape else None

    def free(self) -> None:
        self.by_address.clear()
        for frame in self.frames:
            frame.release()
        self.frames.clear()


def identity_table(n: int) -> Table:
    table = np.empty(n, RESAMPLE_TAP_DTYPE)
    table["i0"] = np.arange(n)
    table["i1"] = np.arange(n)
    table["w1"] = 0.0
    return table


def frame_shape(height: int, width: int, frame_format: FrameFormat) -> tuple[int, int, int]:
    """A BGR frame is [h, w, 3]; a YUYV one [h, w, 2] (cv2's layout)."""
    return (height, width, 2 if frame_format == "YUYV" else 3)


class FrameBuffers:
    """Everything sized by one frame geometry, allocated once when the size changes."""

    def __init__(self, dev: Device, geometry: FrameGeometry, frame_format: FrameFormat) -> None:
        h, w = geometry.frame_size
        ih, iw = geometry.input_size
        lh, lw = geometry.logits_size
        if frame_format == "YUYV" and w % 2:
            raise UserError(f"A YUYV frame must have an even width, not {w}: use {w - 1}.")
        self.geometry = geometry
        self.format = frame_format
        self._dev = dev
        self._owned: list[DeviceBuffer | HostFrame | OutputFrames] = []
        self.frame = self._own(HostFrame(dev, frame_shape(h, w, frame_format), np.uint8))
        self.frame_pitch = w * self.frame.host.shape[2]
        # segment() stages into its own frame: the mask step reads the frame after inference,
        # while composite() (another thread, during a host backend's inference) may stage the
        # next frame into `frame`.
        self.segment_frame = self._own(HostFrame(dev, frame_shape(h, w, frame_format), np.uint8))
        self.out_bgr = self._own(OutputFrames(dev, (h, w, 3)))
        self.out_yuyv = self._own(OutputFrames(dev, (h, w, 2))) if w % 2 == 0 else None
        self.model_input = self._buffer((ih, iw, 3), np.float32)
        self.input_host = self._own(HostFrame(dev, (ih, iw, 3), np.float32))  # host backend
        self.segments = self._buffer((lh, lw), np.float32)
        self.part_heatmaps = self._buffer((lh, lw, NUM_PARTS), np.float32)
        self.prob = self._buffer((ih, iw), np.float32)
        self.part_prob = self._buffer((ih, iw, NUM_PARTS), np.float32)
        self.mask = self._buffer((h, w), np.float32)
        self.state = self._buffer((h, w), np.float32)  # the smoothed mask: the result
        self.has_state = False  # a mask has been made (composite may run)
        self.restart_smoothing = False  # the next mask does not blend with the previous one
        self.has_ids = False  # the newest segmentation made part ids
        self.ids = self._buffer((h, w), np.int8)
        self.alpha = self._buffer((h, w), np.float32)
        # Scratch big enough for any pass at frame size with 3 channels.
        self.scratch_a = self._buffer((h, w, 3), np.float32)
        self.scratch_b = self._buffer((h, w, 3), np.float32)
        self.blurred = self._buffer((h, w, 3), np.float32)
        self.image = self._buffer((h, w, 3), np.uint8)  # the replace background
        self.image_source: npt.NDArray[np.uint8] | None = None  # what `image` holds
        self.preprocess_rows, self.preprocess_cols = self._tables(geometry.preprocess())
        self.upsample_rows, self.upsample_cols = self._tables(geometry.logits_upsampling())
        self.crop_rows, self.crop_cols = self._tables(geometry.crop())
        # The parts layer: runtime.effects.parts' colour table (row 0: no part), uploaded by
        # compositing.py when the no-part colour changes (`palette_key`).
        self.palette = self._buffer((len(RAINBOW_PART_COLORS) + 1, 4), np.float32)
        self.palette_key: Any = None
        # Motion-aware smoothing (mask.py): the time-averaged probability, the last decision's
        # side (-1 person, +1 not) at frame size; the shrunk gray frame (this and the last one,
        # swapped every frame), its difference and the stillness at 1/MOTION_SCALE size.
        self.motion_small_size = (max(1, h // MOTION_SCALE), max(1, w // MOTION_SCALE))
        self.motion_average = self._buffer((h, w), np.float32)
        self.motion_side = self._buffer((h, w), np.float32)
        self.motion_gray = [self._buffer(self.motion_small_size, np.float32) for _ in range(2)]
        self.motion_diff = self._buffer(self.motion_small_size, np.float32)
        self.motion_still = self._buffer(self.motion_small_size, np.float32)
        self.motion_current = 0  # index of the newest gray frame in motion_gray
        self.has_motion_state = False  # the motion buffers hold the previous frame's state
        self.filters: dict[Any, Any] = {}  # uploaded filters by key (blur.py, mask.py)

    def _own(self, item: Any) -> Any:
        self._owned.append(item)
        return item

    def _buffer(self, shape: tuple[int, ...], dtype: npt.DTypeLike) -> DeviceBuffer:
        buffer: DeviceBuffer = self._own(DeviceBuffer(self._dev, shape, dtype))
        return buffer

    def _tables(self, sampling: Any) -> tuple[DeviceBuffer, DeviceBuffer]:
        rows, cols = tables_from_sampling(sampling)
        return self._own(device_table(self._dev, rows)), self._own(device_table(self._dev, cols))

    def upload_table(self, table: npt.NDArray[Any]) -> DeviceBuffer:
        """A table freed with these buffers."""
        buffer: DeviceBuffer = self._own(device_table(self._dev, table))
        return buffer

    def scratch(self, key: Any, nbytes: int) -> DeviceBuffer:
        """Scratch memory for one use (`key`) of at least `nbytes`, allocated on first use
        and grown when a setting needs more (a frame never allocates), freed with these
        buffers."""
        full_key = ("scratch", key)
        current: DeviceBuffer | None = self.filters.get(full_key)
        if current is not None and current.nbytes >= nbytes:
            return current
        if current is not None:
            self._dev.synchronize()  # queued kernels may still use it
            self._owned.remove(current)
            current.free()
        buffer = self._buffer((nbytes,), np.uint8)
        self.filters[full_key] = buffer
        return buffer

    def free(self) -> None:
        """Free everything (call with the context current, after the stream synchronised)."""
        for item in reversed(self._owned):
            item.free()
        self._owned.clear()
        self.filters.clear()
