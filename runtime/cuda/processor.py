"""One frame through the GPU: pre-process -> segment -> mask -> composite, on one CUDA stream.

`CudaFrameProcessor` is the GPU twin of `runtime.processor.FrameProcessor` (same settings, same
`segment` / `composite` calls the live pipeline makes) and follows it step by step:

    scores = crop(sigmoid(upsample(logits)))           runtime.mask.person_scores
    mask   = smooth(feather(scores > threshold))       runtime.processor.FrameProcessor._segment
    ids    = argmax parts where mask                   runtime.mask.part_ids
    image  = Compositor.composite(frame, mask, ids)    runtime.effects

Every number comes from the CPU modules: sampling plans from `runtime.geometry` (tables.py),
blur passes measured off `css_blur` / `feather` (operators.py), the palette and face parts from
`runtime.effects.parts`. The frame crosses host/device memory at most once each way: zero-copy
on Jetson, one async copy on a discrete GPU (memory.py). The mask, the smoothing state, the
background and every table stay on the GPU.

Backends: one that exposes device buffers (`DeviceSegmentationBackend`, the TensorRT backend)
gets the pre-processed input written straight into its input binding and its logits read where
they are; any other backend (ONNX Runtime) gets the GPU's pre-processed input copied to the host
and its logits uploaded, which `uses_host_backend` reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from convert.catalog import get_variant
from convert.errors import UserError
from runtime.backends.base import SegmentationBackend
from runtime.cuda import kernels as k
from runtime.cuda.memory import CudaDevice, DeviceBuffer, HostFrame, device_table
from runtime.cuda.operators import AxisFilter, CssBlurFilters, css_blur_filters, measure
from runtime.cuda.tables import tables_from_sampling
from runtime.effects.common import css_blur_plan
from runtime.effects.parts import FACE_PARTS, RAINBOW_PART_COLORS
from runtime.effects.replace import Background
from runtime.geometry import FrameGeometry, frame_geometry
from runtime.mask import NUM_PARTS, feather
from runtime.settings import Settings

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
FrameFormat = str  # "BGR" or "YUYV"
# Output names of the exported model (convert/, runtime/backends/tensorrt).
SEGMENTS_OUTPUT, PART_HEATMAPS_OUTPUT = "segments", "part_heatmaps"
# blurBodyPart's edge blur as runtime.effects.parts.blur_body_parts calls it (its default).
FACE_EDGE_BLUR = 3


@dataclass(frozen=True)
class DeviceLogits:
    """Logits left in device memory by a backend: [h, w] segments, [h, w, 24] part heatmaps."""

    segments: int
    part_heatmaps: int | None
    fp16: bool


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
    `stream=` this processor's `CudaDevice.stream` so all of it is ordered on one stream."""

    @property
    def stream_handle(self) -> int: ...

    def device_input(self) -> DeviceTensorLike: ...

    def device_outputs(self) -> Mapping[str, DeviceTensorLike]: ...

    def set_input_size(self, height: int, width: int) -> None: ...

    def enqueue(self) -> None: ...


@lru_cache(maxsize=32)
def feather_filter(size: int, width: int) -> AxisFilter:
    """`runtime.mask.feather` along an axis of `size` pixels, measured off the function itself."""
    return measure(lambda column: feather(column, width), size)


@lru_cache(maxsize=32)
def cached_css_blur_filters(h: int, w: int, sigma: float) -> CssBlurFilters:
    return css_blur_filters(h, w, sigma)


class _Filter:
    """An AxisFilter uploaded once: start indices and weights in device memory."""

    def __init__(self, dev: CudaDevice, f: AxisFilter) -> None:
        self.f = f
        self.start = device_table(dev, f.start)
        self.weights = device_table(dev, f.weights)


class _CssBlur:
    """`css_blur` of an h x w image on the GPU: shrink, blur (and enlarge for masks)."""

    def __init__(self, dev: CudaDevice, h: int, w: int, sigma: float) -> None:
        filters = cached_css_blur_filters(h, w, sigma)
        self.filters = filters
        self.h, self.w = h, w
        self.small_h, self.small_w = filters.small_size
        self.shrink = tuple(_Filter(dev, f) for f in filters.shrink) if filters.shrink else None
        self.blur = tuple(_Filter(dev, f) for f in filters.blur)
        self.enlarge = tuple(_Filter(dev, f) for f in filters.enlarge) if filters.enlarge else None
        if filters.enlarge is not None:
            rows, cols = (f.as_resample_table() for f in filters.enlarge)
        else:  # factor 1: the blurred image is already frame-sized; identity tables
            rows, cols = _identity_table(h), _identity_table(w)
        self.up_rows, self.up_cols = device_table(dev, rows), device_table(dev, cols)

    def run(
        self,
        kern: k.Kernels,
        channels: int,
        src: int,
        out_small: int,
        tmp_a: int,
        tmp_b: int,
        frame: tuple[int, int, str] | None = None,
    ) -> None:
        """Blur `src` ([h, w, channels] float; or, when `frame` = (ptr, pitch, format) is
        given, the uint8 camera frame) into `out_small` ([small_h, small_w, channels]).
        tmp_a and tmp_b each hold h * w * channels floats."""
        h, w, sh, sw = self.h, self.w, self.small_h, self.small_w
        first = True

        def along_rows(
            f: _Filter, source: int, in_h: int, in_w: int, out_len: int, dst: int
        ) -> None:
            nonlocal first
            if frame is not None and first:  # the first pass reads the uint8 frame directly
                ptr, pitch, fmt = frame
                kern.filter_frame_rows(
                    ptr, pitch, fmt, in_h, f.start.ptr, f.weights.ptr, f.f.taps, out_len, dst
                )
            else:
                kern.filter_axis(
                    source, in_h, in_w, channels, f.start.ptr, f.weights.ptr, f.f.taps,
                    out_len, 1, dst,
                )  # fmt: skip
            first = False

        def along_cols(
            f: _Filter, source: int, in_h: int, in_w: int, out_len: int, dst: int
        ) -> None:
            kern.filter_axis(
                source, in_h, in_w, channels, f.start.ptr, f.weights.ptr, f.f.taps,
                out_len, 0, dst,
            )  # fmt: skip

        cur = src
        if self.shrink is not None:  # INTER_AREA shrink: along rows, then along columns
            along_rows(self.shrink[1], cur, h, w, sw, tmp_a)
            along_cols(self.shrink[0], tmp_a, h, sw, sh, tmp_b)
            cur = tmp_b
        along_rows(self.blur[1], cur, sh, sw, sw, tmp_a)  # the Gaussian at the reduced size
        along_cols(self.blur[0], tmp_a, sh, sw, sh, out_small)

    def enlarge_mask(self, kern: k.Kernels, small: int, tmp: int, out: int) -> None:
        """The linear enlargement of a 1-channel blurred mask back to h x w."""
        if self.enlarge is None:
            raise ValueError("nothing to enlarge at factor 1")
        rows, cols = self.enlarge
        kern.filter_axis(
            small, self.small_h, self.small_w, 1,
            cols.start.ptr, cols.weights.ptr, cols.f.taps, self.w, 1, tmp,
        )  # fmt: skip
        kern.filter_axis(
            tmp, self.small_h, self.w, 1,
            rows.start.ptr, rows.weights.ptr, rows.f.taps, self.h, 0, out,
        )  # fmt: skip


def _identity_table(n: int) -> npt.NDArray[np.void]:
    from runtime.cuda.tables import RESAMPLE_TAP_DTYPE

    table = np.empty(n, RESAMPLE_TAP_DTYPE)
    table["i0"] = np.arange(n)
    table["i1"] = np.arange(n)
    table["w1"] = 0.0
    return table


class _FrameBuffers:
    """Everything sized by one frame geometry, allocated once when the size changes."""

    def __init__(
        self, dev: CudaDevice, geometry: FrameGeometry, frame_format: FrameFormat, fp16: bool
    ) -> None:
        h, w = geometry.frame_size
        ih, iw = geometry.input_size
        lh, lw = geometry.logits_size
        self.geometry = geometry
        self.format = frame_format
        if frame_format == "YUYV":
            if w % 2:
                raise UserError(f"A YUYV frame must have an even width, not {w}: use {w - 1}.")
            self.frame = HostFrame(dev, (h, w, 2), np.uint8)  # cv2's YUYV layout
            self.frame_pitch = w * 2
        else:
            self.frame = HostFrame(dev, (h, w, 3), np.uint8)
            self.frame_pitch = w * 3
        self.out_bgr = HostFrame(dev, (h, w, 3), np.uint8)
        self.out_yuyv = HostFrame(dev, (h, w, 2), np.uint8) if w % 2 == 0 else None
        self.model_input = DeviceBuffer(dev, (ih, iw, 3), np.float16 if fp16 else np.float32)
        self.input_host = HostFrame(dev, (ih, iw, 3), np.float32)  # host-backend staging
        self.segments = DeviceBuffer(dev, (lh, lw), np.float32)
        self.part_heatmaps = DeviceBuffer(dev, (lh, lw, NUM_PARTS), np.float32)
        self.prob = DeviceBuffer(dev, (ih, iw), np.float32)
        self.part_prob = DeviceBuffer(dev, (ih, iw, NUM_PARTS), np.float32)
        self.mask = DeviceBuffer(dev, (h, w), np.float32)
        self.state = DeviceBuffer(dev, (h, w), np.float32)  # smoothed mask: the result
        self.has_state = False  # a mask has been made (composite may run)
        self.restart_smoothing = False  # the next mask does not blend with the previous one
        self.has_ids = False  # the newest segmentation made part ids
        self.ids = DeviceBuffer(dev, (h, w), np.int8)
        self.alpha = DeviceBuffer(dev, (h, w), np.float32)
        # Scratch big enough for any pass at frame size with 3 channels.
        self.tmp_a = DeviceBuffer(dev, (h, w, 3), np.float32)
        self.tmp_b = DeviceBuffer(dev, (h, w, 3), np.float32)
        self.blurred = DeviceBuffer(dev, (h, w, 3), np.float32)
        self.image = DeviceBuffer(dev, (h, w, 3), np.uint8)  # replace background
        self.image_key: tuple[str | None, int] | None = None
        pre = tables_from_sampling(geometry.preprocess())
        up = tables_from_sampling(geometry.logits_upsampling())
        crop = tables_from_sampling(geometry.crop())
        self.pre_rows, self.pre_cols = (device_table(dev, t) for t in pre)
        self.up_rows, self.up_cols = (device_table(dev, t) for t in up)
        self.crop_rows, self.crop_cols = (device_table(dev, t) for t in crop)
        self.palette = device_table(
            dev, np.asarray(RAINBOW_PART_COLORS, np.float32)[:, ::-1].copy()
        )
        self._css_blurs: dict[float, _CssBlur] = {}
        self._feathers: dict[int, tuple[_Filter, _Filter]] = {}
        self._dev = dev

    def css_blur(self, sigma: float) -> _CssBlur:
        """css_blur's passes for a frame-sized image, uploaded on first use per sigma."""
        if sigma not in self._css_blurs:
            h, w = self.geometry.frame_size
            self._css_blurs[sigma] = _CssBlur(self._dev, h, w, sigma)
        return self._css_blurs[sigma]

    def feather(self, width: int) -> tuple[_Filter, _Filter]:
        """feather's (rows, cols) passes, uploaded on first use per width."""
        if width not in self._feathers:
            h, w = self.geometry.frame_size
            self._feathers[width] = (
                _Filter(self._dev, feather_filter(h, width)),
                _Filter(self._dev, feather_filter(w, width)),
            )
        return self._feathers[width]


@dataclass
class CudaSegmentation:
    """The segmentation of the newest frame, resident on the GPU (mask in the state buffer)."""

    geometry: FrameGeometry
    parts: bool


class CudaFrameProcessor:
    """BodyPix segmentation and compositing of camera frames on an NVIDIA GPU."""

    def __init__(
        self,
        settings: Settings,
        backend: SegmentationBackend | DeviceSegmentationBackend,
        device: CudaDevice | None = None,
        frame_format: FrameFormat = "BGR",
        output_format: FrameFormat = "BGR",
        kernels: k.Kernels | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.dev = device or CudaDevice()
        self.kernels = kernels or k.Kernels(self.dev)
        self.frame_format = frame_format
        self.output_format = output_format
        self._stride = get_variant(settings.variant).stride
        self._buffers: _FrameBuffers | None = None
        self._background: Background | None = None
        self._background_key: str | None = None
        self._background_image: U8 | None = None
        self._staged: npt.NDArray[np.uint8] | None = None
        # segment() and composite() may run on different threads: each sequence of enqueued
        # kernels shares scratch buffers, so it is enqueued under this lock (not held while a
        # host backend runs inference).
        self._lock = threading.RLock()

    @property
    def uses_host_backend(self) -> bool:
        """True when the logits go through the host (no device-buffer backend)."""
        return not isinstance(self.backend, DeviceSegmentationBackend)

    def geometry(self, height: int, width: int) -> FrameGeometry:
        return frame_geometry(height, width, self.settings.internal_resolution, self._stride)

    def buffers(self, height: int, width: int) -> _FrameBuffers:
        """The buffers for frames of this size, allocated on the first frame of a new size."""
        geometry = self.geometry(height, width)
        b = self._buffers
        if b is None or b.geometry != geometry:
            self.dev.stream.synchronize()
            b = self._buffers = _FrameBuffers(self.dev, geometry, self.frame_format, False)
            self._staged = None
            if isinstance(self.backend, DeviceSegmentationBackend):
                self.backend.set_input_size(*geometry.input_size)
        return b

    def input_frame(self, height: int, width: int) -> npt.NDArray[np.uint8]:
        """The pinned (on Jetson: GPU-mapped) array the next frame should be captured into;
        `segment` / `composite` skip their host copy when given this very array."""
        return self.buffers(height, width).frame.host

    def frame_size_of(self, frame: npt.NDArray[np.uint8]) -> tuple[int, int]:
        """(h, w) of a BGR [h, w, 3] or YUYV [h, w, 2] (or packed [h, 2w]) frame."""
        if self.frame_format == "YUYV" and frame.ndim == 2:
            return frame.shape[0], frame.shape[1] // 2
        return frame.shape[0], frame.shape[1]

    def _stage_frame(self, frame: npt.NDArray[np.uint8]) -> _FrameBuffers:
        h, w = self.frame_size_of(frame)
        b = self.buffers(h, w)
        if frame.ndim == 2 and self.frame_format == "YUYV" and frame.shape == (h, 2 * w):
            frame = frame.reshape(h, w, 2)
        if frame.shape != b.frame.host.shape or frame.dtype != np.uint8:
            raise UserError(
                f"Frame of shape {frame.shape} is not a {w}x{h} {self.frame_format} uint8 frame: "
                "capture in the processor's frame format."
            )
        if frame is self._staged:  # segment() then composite() of one frame: copied once
            return b
        if frame is not b.frame.host:
            self.dev.stream.synchronize()  # the previous frame's kernels may still read it
            np.copyto(b.frame.host, frame)
        b.frame.upload()
        # Frames are treated as immutable once handed over (the capture makes a new array per
        # frame); the pinned capture buffer itself is re-staged every time.
        self._staged = None if frame is b.frame.host else frame
        return b

    # --- segmentation -------------------------------------------------------------------

    def preprocess(self, b: _FrameBuffers, target: int | None = None, fp16: bool = False) -> None:
        ih, iw = b.geometry.input_size
        self.kernels.preprocess(
            b.frame.device_ptr, b.frame_pitch, b.format, b.pre_rows.ptr, b.pre_cols.ptr,
            ih, iw, target if target is not None else b.model_input.ptr, fp16,
        )  # fmt: skip

    def _infer(self, b: _FrameBuffers, parts: bool) -> DeviceLogits:
        backend = self.backend
        if isinstance(backend, DeviceSegmentationBackend):
            binding = backend.device_input()
            self.preprocess(b, binding.pointer, binding.dtype == np.float16)
            same_stream = backend.stream_handle == int(self.dev.stream.handle)
            if not same_stream:  # correct but slower: the two streams meet on the host
                self.dev.stream.synchronize()
            backend.enqueue()
            if not same_stream:
                import pycuda.driver as cuda

                cuda.Context.synchronize()
            outputs = backend.device_outputs()
            segments = outputs[SEGMENTS_OUTPUT]
            heatmaps = outputs.get(PART_HEATMAPS_OUTPUT) if parts else None
            return DeviceLogits(
                segments.pointer,
                heatmaps.pointer if heatmaps is not None else None,
                segments.dtype == np.float16,
            )
        # Host backend: the GPU's model input goes to the host, the logits come back.
        self.preprocess(b, b.input_host.device_ptr if b.input_host.mapped else None)
        if not b.input_host.mapped:
            import pycuda.driver as cuda

            cuda.memcpy_dtoh_async(b.input_host.host, b.model_input.ptr, self.dev.stream)
        self.dev.stream.synchronize()
        model_input = b.input_host.host.copy()  # composite() may stage the next frame meanwhile
        self._lock.release()
        try:
            logits = backend.run(model_input, parts=parts)
        finally:
            self._lock.acquire()
        b.segments.upload(logits.segments)
        heatmaps_ptr: int | None = None
        if parts:
            if logits.part_heatmaps is None:
                raise UserError(
                    f"The {backend.name} backend returned no part heatmaps: use a model file "
                    "exported with the part_heatmaps output (`python -m convert export-onnx`)."
                )
            b.part_heatmaps.upload(logits.part_heatmaps)
            heatmaps_ptr = b.part_heatmaps.ptr
        return DeviceLogits(b.segments.ptr, heatmaps_ptr, False)

    def mask_from_logits(self, b: _FrameBuffers, logits: DeviceLogits, parts: bool) -> None:
        """scores -> threshold -> (part ids) -> feather -> smoothing, into b.state."""
        s, kern = self.settings, self.kernels
        g = b.geometry
        h, w = g.frame_size
        ih, iw = g.input_size
        lw = g.logits_size[1]
        kern.upsample_sigmoid(
            logits.segments, logits.fp16, lw, 1, b.up_rows.ptr, b.up_cols.ptr, ih, iw, b.prob.ptr
        )
        kern.mask_threshold(
            b.prob.ptr, iw, b.crop_rows.ptr, b.crop_cols.ptr, h, w,
            s.segmentation_threshold, b.mask.ptr,
        )  # fmt: skip
        if parts:
            if logits.part_heatmaps is None:
                raise UserError("Part ids were asked for but the backend gave no part heatmaps.")
            kern.upsample_sigmoid(
                logits.part_heatmaps, logits.fp16, lw, NUM_PARTS,
                b.up_rows.ptr, b.up_cols.ptr, ih, iw, b.part_prob.ptr,
            )  # fmt: skip
            kern.part_ids(
                b.prob.ptr, b.part_prob.ptr, iw, NUM_PARTS, b.crop_rows.ptr, b.crop_cols.ptr,
                h, w, s.segmentation_threshold, b.ids.ptr,
            )  # fmt: skip
        mask = b.mask.ptr
        if s.feather > 0:
            rows, cols = b.feather(s.feather)
            kern.filter_axis(
                mask, h, w, 1, cols.start.ptr, cols.weights.ptr, cols.f.taps, w, 1, b.tmp_a.ptr
            )
            kern.filter_axis(
                b.tmp_a.ptr, h, w, 1, rows.start.ptr, rows.weights.ptr, rows.f.taps, h, 0,
                b.tmp_b.ptr,
            )  # fmt: skip
            mask = b.tmp_b.ptr
        has_previous = b.has_state and not b.restart_smoothing and s.smoothing > 0
        kern.smooth_mask(mask, h * w, s.smoothing, has_previous, b.state.ptr)
        b.has_state = True
        b.has_ids = parts
        b.restart_smoothing = False

    def segment(self, frame: npt.NDArray[np.uint8], parts: bool | None = None) -> CudaSegmentation:
        """Segment one frame; the mask (and part ids) stay on the GPU for `composite`."""
        want = self.settings.effect == "parts" if parts is None else parts
        with self._lock, self.dev.active():
            b = self._stage_frame(frame)
            logits = self._infer(b, want)
            self.mask_from_logits(b, logits, want)
            return CudaSegmentation(b.geometry, want)

    def model_input(self, frame: npt.NDArray[np.uint8], fp16: bool = False) -> npt.NDArray[Any]:
        """The pre-processed model input of `frame`, copied back (tests, debugging)."""
        with self._lock, self.dev.active():
            b = self._stage_frame(frame)
            target = b.model_input
            if fp16:
                target = DeviceBuffer(self.dev, b.model_input.shape, np.float16)
            self.preprocess(b, target.ptr, fp16)
            return target.download()

    def download_mask(self) -> F32:
        """The newest mask at frame size (tests, the panel's mask preview)."""
        if self._buffers is None:
            raise UserError("No frame was segmented yet: call segment() first.")
        with self._lock, self.dev.active():
            return self._buffers.state.download()

    def download_part_ids(self) -> npt.NDArray[np.int8]:
        if self._buffers is None:
            raise UserError("No frame was segmented yet: call segment() first.")
        with self._lock, self.dev.active():
            return self._buffers.ids.download()

    # --- compositing --------------------------------------------------------------------

    def _person_alpha(self, b: _FrameBuffers, source: int, sigma: float, out: int) -> int:
        """`css_blur(mask, sigma)` into `out` (or `source` itself when sigma is 0)."""
        if sigma <= 0:
            return source
        blur = b.css_blur(sigma)
        if blur.enlarge is None:
            blur.run(self.kernels, 1, source, out, b.tmp_a.ptr, b.tmp_b.ptr)
        else:
            blur.run(self.kernels, 1, source, b.blurred.ptr, b.tmp_a.ptr, b.tmp_b.ptr)
            blur.enlarge_mask(self.kernels, b.blurred.ptr, b.tmp_a.ptr, out)
        return out

    def _blurred_frame(self, b: _FrameBuffers, sigma: float) -> _CssBlur:
        """`css_blur(frame, sigma)` before its enlargement, into b.blurred."""
        blur = b.css_blur(sigma)
        blur.run(
            self.kernels, 3, b.frame.device_ptr, b.blurred.ptr, b.tmp_a.ptr, b.tmp_b.ptr,
            frame=(b.frame.device_ptr, b.frame_pitch, b.format),
        )  # fmt: skip
        return blur

    def _upload_background(self, b: _FrameBuffers) -> None:
        """The replace background, scaled to cover by runtime.effects.replace.Background and
        uploaded when it changes: once per picture, once per frame of a video."""
        h, w = b.geometry.frame_size
        if self._background is None or self._background_key != self.settings.background:
            if self._background is not None:
                self._background.close()
            self._background = Background(self.settings.background)
            self._background_key = self.settings.background
            self._background_image = None
        image = self._background.frame(h, w)
        if image is not self._background_image or b.image_key is None:
            b.image.upload(image)
            self._background_image = image
            b.image_key = (self.settings.background, w)

    def composite(
        self, frame: npt.NDArray[np.uint8], result: CudaSegmentation | None = None
    ) -> npt.NDArray[np.uint8]:
        """The effect applied to `frame` with the newest mask, as BGR [h, w, 3] or YUYV
        [h, w, 2] (`output_format`). The returned array is reused by the next call."""
        with self._lock, self.dev.active():
            return self._composite(frame, result)

    def _composite(
        self, frame: npt.NDArray[np.uint8], result: CudaSegmentation | None
    ) -> npt.NDArray[np.uint8]:
        s = self.settings
        b = self._stage_frame(frame)
        if result is not None and result.geometry != b.geometry:
            raise UserError("The mask was made for another frame size: segment this size first.")
        if not b.has_state:
            raise UserError("No frame of this size was segmented yet: call segment() first.")
        h, w = b.geometry.frame_size
        p = k.composite_params()
        p["frame"], p["frame_pitch"] = b.frame.device_ptr, b.frame_pitch
        p["frame_format"] = k.FORMATS[b.format]
        p["width"], p["height"], p["flip"] = w, h, int(s.flip_horizontal)
        blur_amount: float | None = None
        if s.effect in ("blur", "replace"):
            p["blend"] = 1
            p["alpha"] = self._person_alpha(b, b.state.ptr, s.edge_blur_amount, b.alpha.ptr)
            if s.effect == "blur":
                blur_amount = s.background_blur_amount
            else:
                self._upload_background(b)
                p["background_kind"] = k.BACKGROUND_IMAGE
                p["image"], p["image_pitch"] = b.image.ptr, w * 3
        elif s.effect == "mask":
            m = s.mask
            p["overlay"] = k.OVERLAY_MASK
            p["overlay_alpha"] = self._person_alpha(b, b.state.ptr, m.mask_blur_amount, b.alpha.ptr)
            p["mask_foreground"] = _bgra(m.foreground_color)
            p["mask_background"] = _bgra(m.background_color)
            p["opacity"] = m.opacity
        elif s.effect == "parts" and b.has_ids:
            # Without part ids (a mask from before the switch to 'parts') the frame passes
            # through this once, as the CPU Compositor does.
            if s.parts.face_blur:
                self.kernels.part_keep(b.ids.ptr, h * w, FACE_PARTS, b.mask.ptr)
                p["blend"] = 1
                p["alpha"] = self._person_alpha(b, b.mask.ptr, FACE_EDGE_BLUR, b.alpha.ptr)
                blur_amount = s.parts.face_blur_amount
            p["overlay"] = k.OVERLAY_PARTS
            p["ids"], p["palette"], p["num_parts"] = b.ids.ptr, b.palette.ptr, NUM_PARTS
            p["opacity"] = s.parts.opacity
        if blur_amount is not None:
            blur = self._blurred_frame(b, blur_amount)
            p["background_kind"] = k.BACKGROUND_BLURRED
            p["blurred"], p["blurred_w"] = b.blurred.ptr, blur.small_w
            p["up_rows"], p["up_cols"] = blur.up_rows.ptr, blur.up_cols.ptr
        out = b.out_yuyv if self.output_format == "YUYV" else b.out_bgr
        if out is None:
            raise UserError(f"YUYV output needs an even frame width, not {w}.")
        p["out"], p["out_pitch"] = out.device_ptr, w * (2 if self.output_format == "YUYV" else 3)
        p["out_format"] = k.FORMATS[self.output_format]
        self.kernels.composite(p)
        out.download()
        self.dev.stream.synchronize()
        return out.host

    def update_settings(self, settings: Settings) -> None:
        old = self.settings
        self.settings = settings
        self._stride = get_variant(settings.variant).stride
        if self._buffers is not None and (
            old.variant != settings.variant
            or old.internal_resolution != settings.internal_resolution
            or settings.smoothing == 0
        ):
            self._buffers.restart_smoothing = True

    def reset_smoothing(self) -> None:
        """Forget the previous mask (a new scene or source)."""
        if self._buffers is not None:
            self._buffers.restart_smoothing = True

    def process(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Segment and composite one frame (the frame crosses to the GPU once)."""
        return self.composite(frame, self.segment(frame))

    def close(self) -> None:
        with self._lock, self.dev.active():
            self.dev.stream.synchronize()
            if self._background is not None:
                self._background.close()
            self._buffers = None
            self._staged = None


def _bgra(rgba: tuple[int, int, int, int]) -> F32:
    r, g, b, a = rgba
    return np.array([b, g, r, a / 255.0], np.float32)


def css_blur_factor(h: int, w: int, sigma: float) -> int:
    """How many times css_blur shrinks an h x w image (for reports)."""
    return css_blur_plan(h, w, sigma).factor
