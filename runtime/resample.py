"""NumPy execution of `runtime.geometry` sampling plans (the CPU twin of the CUDA kernels).

Separable bilinear sampling in float32, columns first and then rows, the order TF.js uses, so a
plan gives the same numbers as the corresponding TF.js op (up to float32 vs double rounding).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from core.arrays import F32
from runtime.geometry import AxisSampling, FrameGeometry

# Outputs with fewer rows are not worth a second thread.
_SPLIT_MIN_ROWS = 64
_CPUS = os.cpu_count() or 1
_HELPER: ThreadPoolExecutor | None = None


# Every gather below uses mode="clip": the tables are clamped into range already (AxisSampling),
# and numpy's bounds-checking "raise" mode costs about 40 % more.


def _lerp_columns(src: np.ndarray, cols: AxisSampling) -> F32:
    # np.take is about twice as fast as fancy indexing along axis 1.
    left = np.take(src, cols.idx0, axis=1, mode="clip").astype(np.float32, copy=False)
    right = np.take(src, cols.idx1, axis=1, mode="clip").astype(np.float32, copy=False)
    if not cols.all_valid:
        left[:, ~cols.valid0] = 0
        right[:, ~cols.valid1] = 0
    frac = cols.frac32.reshape((1, -1) + (1,) * (src.ndim - 2))
    right -= left
    right *= frac
    right += left
    return right


def _lerp_rows(top: F32, bottom: F32, rows: AxisSampling) -> F32:
    if not rows.all_valid:
        top[~rows.valid0] = 0
        bottom[~rows.valid1] = 0
    frac = rows.frac32.reshape((-1,) + (1,) * (top.ndim - 1))
    bottom -= top
    bottom *= frac
    bottom += top
    return bottom


def _resample(src: np.ndarray, rows: AxisSampling, cols: AxisSampling, rows_first: bool) -> F32:
    if rows_first:
        top = np.take(src, rows.idx0, axis=0, mode="clip").astype(np.float32)
        bottom = np.take(src, rows.idx1, axis=0, mode="clip").astype(np.float32)
        return _lerp_columns(_lerp_rows(top, bottom, rows), cols)
    # Only the source rows this output range reads (a half, when split across threads).
    lo, hi = int(rows.idx0.min()), int(rows.idx1.max()) + 1
    across = _lerp_columns(src[lo:hi], cols)
    top = np.take(across, rows.idx0 - lo, axis=0, mode="clip")
    return _lerp_rows(top, np.take(across, rows.idx1 - lo, axis=0, mode="clip"), rows)


def _helper() -> ThreadPoolExecutor:
    global _HELPER
    if _HELPER is None:
        _HELPER = ThreadPoolExecutor(1, thread_name_prefix="resample")
    return _HELPER


def resample(
    src: np.ndarray, rows: AxisSampling, cols: AxisSampling, parallel: bool = False
) -> F32:
    """Sample `src` ([h, w] or [h, w, c], any real dtype) on the grid rows x cols -> float32.

    Up-sampling interpolates columns first, then rows, as TF.js does; down-sampling does the
    rows first (gathering whole rows is a cheap copy and leaves less to interpolate), which
    changes the float32 rounding only (about 1e-5 of the value). `parallel` computes the two
    halves of the output rows on two threads (NumPy releases the GIL): same numbers.
    """
    rows_first = rows.size < src.shape[0]
    if not parallel or rows.size < _SPLIT_MIN_ROWS or _CPUS < 2:
        return _resample(src, rows, cols, rows_first)
    half = rows.size // 2
    lower = _helper().submit(_resample, src, rows.part(half, rows.size), cols, rows_first)
    upper = _resample(src, rows.part(0, half), cols, rows_first)
    return np.concatenate([upper, lower.result()])


def preprocess(frame_bgr: npt.NDArray[np.uint8], geometry: FrameGeometry) -> F32:
    """BGR uint8 frame -> the model input: RGB float32 0..255 [H, W, 3], padded and resized."""
    rows, cols = geometry.preprocess()
    # Swap channels on the small result: gathering from a reversed view is twice as slow.
    return np.ascontiguousarray(resample(frame_bgr, rows, cols, parallel=True)[:, :, ::-1])


# Output rows per block of `preprocess_planar`: a block's float rows (about 32 x 1280 x 3 x 4
# bytes at 720p) stay in the core's cache between its passes.
_BLOCK_ROWS = 32


@dataclass(frozen=True, eq=False)
class _PlanarPlan:
    """The column tables of one frame size, flattened over the 3 channels of a row."""

    idx0: npt.NDArray[np.intp]  # [w * 3]: source element (column * 3 + channel) of a row
    idx1: npt.NDArray[np.intp]
    frac: F32  # [w * 3]
    invalid0: npt.NDArray[np.bool_] | None  # [w * 3] reads of the zero padding, or None
    invalid1: npt.NDArray[np.bool_] | None


@lru_cache(maxsize=16)
def _planar_plan(cols: AxisSampling) -> _PlanarPlan:
    channel = np.arange(3)
    idx0 = (cols.idx0[:, None] * 3 + channel).ravel()
    idx1 = (cols.idx1[:, None] * 3 + channel).ravel()
    frac = np.repeat(cols.frac32, 3)
    inv0 = None if cols.valid0.all() else np.repeat(~cols.valid0, 3)
    inv1 = None if cols.valid1.all() else np.repeat(~cols.valid1, 3)
    return _PlanarPlan(idx0, idx1, frac, inv0, inv1)


def _planar_block(
    frame: npt.NDArray[np.uint8],
    rows: AxisSampling,
    plan: _PlanarPlan,
    scale: np.float32,
    shift: np.float32,
    out: F32,
) -> None:
    """Rows-first `_resample` of the output rows `rows`, normalised into out [3, n, w]."""
    flat = frame.reshape(frame.shape[0], -1)
    top = np.take(flat, rows.idx0, axis=0, mode="clip").astype(np.float32)
    bottom = np.take(flat, rows.idx1, axis=0, mode="clip").astype(np.float32)
    across = _lerp_rows(top, bottom, rows)  # [n, W * 3]
    left = np.take(across, plan.idx0, axis=1, mode="clip")
    right = np.take(across, plan.idx1, axis=1, mode="clip")
    if plan.invalid0 is not None:
        left[:, plan.invalid0] = 0
    if plan.invalid1 is not None:
        right[:, plan.invalid1] = 0
    right -= left
    right *= plan.frac
    right += left
    bgr = right.reshape(right.shape[0], -1, 3)
    # One pass reads the channels in place and writes the planes (the swap comes free).
    np.multiply(bgr.transpose(2, 0, 1)[::-1], scale, out=out)
    out += shift


def preprocess_planar(
    frame_bgr: npt.NDArray[np.uint8], geometry: FrameGeometry, scale: float, shift: float
) -> F32:
    """`preprocess`, then x * scale + shift (the model's normalisation, float32 like its Mul
    and Add), as [1, 3, H, W] RGB: the input of a graph without its first three ops.

    Same numbers as `resample`, computed a block of rows at a time (cache-resident).
    """
    rows, cols = geometry.preprocess()
    h, w = geometry.input_size
    out = np.empty((1, 3, h, w), np.float32)
    sc, sh = np.float32(scale), np.float32(shift)
    if rows.size >= frame_bgr.shape[0]:  # enlarging: resample interpolates columns first
        rgb = resample(frame_bgr, rows, cols, parallel=True)[:, :, ::-1]
        np.multiply(rgb.transpose(2, 0, 1), sc, out=out[0])
        out += sh
        return out
    plan = _planar_plan(cols)
    frame = np.ascontiguousarray(frame_bgr)
    # One thread: blocks this small hand the GIL back and forth between two threads for little
    # gain (720p: 0.6 ms less wall time for 0.7 ms more CPU; 640x480: more of both).
    for start in range(0, h, _BLOCK_ROWS):
        stop = min(h, start + _BLOCK_ROWS)
        _planar_block(frame, rows.part(start, stop), plan, sc, sh, out[0, :, start:stop])
    return out


def sigmoid(x: F32) -> F32:
    """Logistic function in float32 (in place on a fresh array)."""
    out = np.negative(x, dtype=np.float32)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def scale_and_crop(logits: F32, geometry: FrameGeometry, parallel: bool = False) -> F32:
    """BodyPix's `scaleAndCropToInputTensorShape` with sigmoid: logits -> scores at frame size."""
    up = resample(logits, *geometry.logits_upsampling())
    return resample(sigmoid(up), *geometry.crop(), parallel=parallel)
