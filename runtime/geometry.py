"""BodyPix 2.x geometry, step by step as `@tensorflow-models/body-pix` (TF.js CPU backend) does it.

The pure geometry (sizes, paddings, crop boxes, per-axis sampling coordinates) is kept apart from
its NumPy execution so the CUDA kernels can use exactly the same numbers:

1. `input_size_for`: `internalResolution` -> percentage -> `toValidInputResolution` per side.
2. `padding_for`: `padAndResizeTo` pads the frame (zeros) to the model's aspect ratio; each side
   gets `Math.round(0.5 * excess)` (JavaScript rounds halves up).
3. `preprocess_sampling`: `tf.image.resizeBilinear(padded, [H, W])` with alignCorners=false and
   halfPixelCenters=false (TF "legacy" sampling), expressed on the *unpadded* frame: samples
   that fall in the padding read 0.
4. `logits_upsampling`: the stride-resolution logits resized to (H, W) with alignCorners=true.
5. sigmoid.
6. `crop_sampling`: `tf.image.cropAndResize` with the box that removes the padding, back to the
   frame size (out-of-range samples give extrapolationValue 0, as in TF).
7. threshold: `segmentation > segmentationThreshold` (strictly greater).

Every axis is separable, so each step is a pair of `AxisSampling` (rows, columns): output index
i reads source indices `idx0[i]`, `idx1[i]` and blends them as a + (b - a) * frac[i]; a read
whose `valid0[i]` / `valid1[i]` is False yields 0 (zero padding, or TF's extrapolation when
both are False). Coordinates are computed in float64 with the same operation order as TF.js,
so the rows and columns TF extrapolates (a float32-rounded box edge past the last row) match.
Execution: `runtime.resample` (NumPy); the CUDA kernels read the same tables (runtime/cuda).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from core.errors import UserError
from core.input_size import is_valid_input_size, output_size, to_valid_input_resolution

__all__ = [
    "INTERNAL_RESOLUTION_PERCENTAGES",
    "MAX_INTERNAL_RESOLUTION",
    "MIN_INTERNAL_RESOLUTION",
    "AxisSampling",
    "CropBox",
    "FrameGeometry",
    "Padding",
    "crop_box",
    "crop_sampling",
    "frame_geometry",
    "input_size_for",
    "internal_resolution_percentage",
    "is_valid_input_size",
    "js_round",
    "logits_upsampling",
    "output_size",
    "padding_for",
    "preprocess_sampling",
    "to_valid_input_resolution",
]

INTERNAL_RESOLUTION_PERCENTAGES: dict[str, float] = {
    "low": 0.25,
    "medium": 0.5,
    "high": 0.75,
    "full": 1.0,
}
MIN_INTERNAL_RESOLUTION = 0.1
MAX_INTERNAL_RESOLUTION = 2.0


def internal_resolution_percentage(internal_resolution: str | float) -> float:
    """BodyPix's `toInternalResolutionPercentage`: a name or a number in 0.1-2.0."""
    if isinstance(internal_resolution, str):
        try:
            return INTERNAL_RESOLUTION_PERCENTAGES[internal_resolution]
        except KeyError:
            raise UserError(
                f"Unknown internal resolution {internal_resolution!r}: use low, medium, high, "
                f"full or a number between {MIN_INTERNAL_RESOLUTION} and {MAX_INTERNAL_RESOLUTION}."
            ) from None
    value = float(internal_resolution)
    if not MIN_INTERNAL_RESOLUTION <= value <= MAX_INTERNAL_RESOLUTION:
        raise UserError(
            f"Internal resolution {value} is out of range: use a number between "
            f"{MIN_INTERNAL_RESOLUTION} and {MAX_INTERNAL_RESOLUTION} (or low/medium/high/full)."
        )
    return value


def input_size_for(
    frame_h: int, frame_w: int, internal_resolution: str | float, stride: int
) -> tuple[int, int]:
    """BodyPix's `toInputResolutionHeightAndWidth`: the model input (H, W) for a frame."""
    pct = internal_resolution_percentage(internal_resolution)
    return (
        to_valid_input_resolution(frame_h * pct, stride),
        to_valid_input_resolution(frame_w * pct, stride),
    )


def js_round(value: float) -> int:
    """JavaScript's Math.round: halves round up (towards +infinity)."""
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class Padding:
    """Zero padding added around the frame before resizing, in frame pixels."""

    top: int
    bottom: int
    left: int
    right: int


def padding_for(frame_h: int, frame_w: int, input_h: int, input_w: int) -> Padding:
    """BodyPix's `padAndResizeTo` padding: pad the short way to the model's aspect ratio."""
    target_aspect = input_w / input_h
    aspect = frame_w / frame_h
    if aspect < target_aspect:
        side = js_round(0.5 * (target_aspect * frame_h - frame_w))
        return Padding(0, 0, side, side)
    side = js_round(0.5 * ((1.0 / target_aspect) * frame_w - frame_h))
    return Padding(side, side, 0, 0)


@dataclass(frozen=True)
class CropBox:
    """A `tf.image.cropAndResize` box, normalised, rounded to float32 as TF.js stores it."""

    y1: float
    x1: float
    y2: float
    x2: float


def crop_box(frame_h: int, frame_w: int, padding: Padding) -> CropBox:
    """BodyPix's `removePaddingAndResizeBack` box."""
    p = padding
    full_h = frame_h + p.top + p.bottom - 1.0
    full_w = frame_w + p.left + p.right - 1.0
    f32 = np.float32
    return CropBox(
        float(f32(p.top / full_h)),
        float(f32(p.left / full_w)),
        float(f32((p.top + frame_h - 1.0) / full_h)),
        float(f32((p.left + frame_w - 1.0) / full_w)),
    )


@dataclass(frozen=True, eq=False)
class AxisSampling:
    """Linear sampling along one axis: out[i] = a + (b - a) * frac[i], a = src[idx0[i]], b = src[idx1[i]].

    A read whose `valid0[i]` / `valid1[i]` is False yields 0 instead of the source value: that is
    how zero padding (pre-process) and TF's extrapolationValue 0 (crop-and-resize: both ends
    invalid) are expressed. idx0/idx1 are clamped into range so they can always be gathered.
    """

    src_size: int
    idx0: npt.NDArray[np.intp]
    idx1: npt.NDArray[np.intp]
    frac: npt.NDArray[np.float64]
    valid0: npt.NDArray[np.bool_]
    valid1: npt.NDArray[np.bool_]

    @property
    def size(self) -> int:
        return int(self.idx0.shape[0])

    @property
    def frac32(self) -> npt.NDArray[np.float32]:
        return self.frac.astype(np.float32)

    @property
    def all_valid(self) -> bool:
        return bool(self.valid0.all() and self.valid1.all())

    def part(self, start: int, stop: int) -> AxisSampling:
        """The outputs start..stop-1 only (to split work; the numbers are unchanged)."""
        sl = slice(start, stop)
        return AxisSampling(
            self.src_size,
            self.idx0[sl],
            self.idx1[sl],
            self.frac[sl],
            self.valid0[sl],
            self.valid1[sl],
        )


def _resize_axis(in_size: int, out_size: int, align_corners: bool) -> AxisSampling:
    """TF.js `resizeBilinear` (halfPixelCenters=false) along one axis."""
    eff_in = in_size - 1 if align_corners and out_size > 1 else in_size
    eff_out = out_size - 1 if align_corners and out_size > 1 else out_size
    ratio = eff_in / eff_out
    src = ratio * np.arange(out_size, dtype=np.float64)
    lo = np.maximum(0.0, np.floor(src))
    frac = src - lo
    hi = np.minimum(in_size - 1, np.ceil(src))
    lo_i = np.minimum(lo, in_size - 1).astype(np.intp)
    ok = np.ones(out_size, dtype=np.bool_)
    return AxisSampling(in_size, lo_i, hi.astype(np.intp), frac, ok, ok)


def _crop_axis(lo: float, hi: float, in_size: int, out_size: int) -> AxisSampling:
    """TF.js `cropAndResize` (bilinear) along one axis for a box side [lo, hi]."""
    if out_size > 1:
        scale = (hi - lo) * (in_size - 1) / (out_size - 1)
        src = lo * (in_size - 1) + np.arange(out_size, dtype=np.float64) * scale
    else:
        src = np.full(1, 0.5 * (lo + hi) * (in_size - 1))
    valid = (src >= 0) & (src <= in_size - 1)
    safe = np.where(valid, src, 0.0)
    top = np.floor(safe)
    bottom = np.ceil(safe)
    return AxisSampling(
        in_size, top.astype(np.intp), bottom.astype(np.intp), safe - top, valid, valid
    )


def _pad_resize_axis(
    frame_size: int, pad_before: int, pad_after: int, out_size: int
) -> AxisSampling:
    """Legacy resize of the zero-padded axis, re-expressed as reads of the unpadded frame."""
    padded = _resize_axis(frame_size + pad_before + pad_after, out_size, align_corners=False)
    idx0 = padded.idx0 - pad_before
    idx1 = padded.idx1 - pad_before
    return AxisSampling(
        frame_size,
        np.clip(idx0, 0, frame_size - 1),
        np.clip(idx1, 0, frame_size - 1),
        padded.frac,
        (idx0 >= 0) & (idx0 < frame_size),
        (idx1 >= 0) & (idx1 < frame_size),
    )


@dataclass(frozen=True)
class FrameGeometry:
    """Everything the pre- and post-processing of one frame size needs."""

    frame_size: tuple[int, int]  # (h, w) of the camera frame
    input_size: tuple[int, int]  # (H, W) of the model input
    logits_size: tuple[int, int]  # (h', w') of the stride-resolution outputs
    stride: int
    padding: Padding
    box: CropBox

    def preprocess(self) -> tuple[AxisSampling, AxisSampling]:
        """(rows, cols) sampling of the frame into the model input (padding reads 0)."""
        return preprocess_sampling(self.frame_size, self.input_size, self.padding)

    def logits_upsampling(self) -> tuple[AxisSampling, AxisSampling]:
        """(rows, cols) of the align-corners resize of the logits to the model input size."""
        return logits_upsampling(self.logits_size, self.input_size)

    def crop(self) -> tuple[AxisSampling, AxisSampling]:
        """(rows, cols) of the crop-and-resize from the model input size back to the frame."""
        return crop_sampling(self.input_size, self.frame_size, self.box)


@lru_cache(maxsize=64)
def preprocess_sampling(
    frame_size: tuple[int, int], input_size: tuple[int, int], padding: Padding
) -> tuple[AxisSampling, AxisSampling]:
    """`resizeBilinear(pad(frame), input_size)` per axis, reading the unpadded frame."""
    rows = _pad_resize_axis(frame_size[0], padding.top, padding.bottom, input_size[0])
    cols = _pad_resize_axis(frame_size[1], padding.left, padding.right, input_size[1])
    return rows, cols


@lru_cache(maxsize=64)
def logits_upsampling(
    logits_size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[AxisSampling, AxisSampling]:
    """`resizeBilinear(logits, input_size, alignCorners=true)` per axis."""
    return (
        _resize_axis(logits_size[0], input_size[0], align_corners=True),
        _resize_axis(logits_size[1], input_size[1], align_corners=True),
    )


@lru_cache(maxsize=64)
def crop_sampling(
    input_size: tuple[int, int], frame_size: tuple[int, int], box: CropBox
) -> tuple[AxisSampling, AxisSampling]:
    """`cropAndResize(scores, [box], [0], frame_size)` per axis."""
    return (
        _crop_axis(box.y1, box.y2, input_size[0], frame_size[0]),
        _crop_axis(box.x1, box.x2, input_size[1], frame_size[1]),
    )


@lru_cache(maxsize=64)
def frame_geometry(
    frame_h: int, frame_w: int, internal_resolution: str | float, stride: int
) -> FrameGeometry:
    """The whole plan for one frame size, internal resolution and output stride."""
    if frame_h < 1 or frame_w < 1:
        raise UserError(f"Frame size {frame_w}x{frame_h} is empty: give an image with pixels.")
    input_h, input_w = input_size_for(frame_h, frame_w, internal_resolution, stride)
    padding = padding_for(frame_h, frame_w, input_h, input_w)
    return FrameGeometry(
        frame_size=(frame_h, frame_w),
        input_size=(input_h, input_w),
        logits_size=output_size(input_h, input_w, stride),
        stride=stride,
        padding=padding,
        box=crop_box(frame_h, frame_w, padding),
    )
