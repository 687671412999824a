"""Execution of `runtime.geometry` sampling plans on the CPU (the twin of the CUDA kernels).

Separable bilinear sampling in float32, columns first and then rows, the order TF.js uses, so a
plan gives the same numbers as the corresponding TF.js op (up to float32 vs double rounding).
`resample` is the NumPy execution and the reference; the frame-size steps (`preprocess`,
`crop_scores`) are compiled loops (`runtime.jit`) with its very operations in its order, one
pass instead of NumPy's ten (the tests hold them equal to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from core.arrays import F32
from runtime.geometry import AxisSampling, FrameGeometry
from runtime.jit import jit

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
    # Only the source rows the output reads.
    lo, hi = int(rows.idx0.min()), int(rows.idx1.max()) + 1
    across = _lerp_columns(src[lo:hi], cols)
    top = np.take(across, rows.idx0 - lo, axis=0, mode="clip")
    return _lerp_rows(top, np.take(across, rows.idx1 - lo, axis=0, mode="clip"), rows)


def resample(src: np.ndarray, rows: AxisSampling, cols: AxisSampling) -> F32:
    """Sample `src` ([h, w] or [h, w, c], any real dtype) on the grid rows x cols -> float32.

    Up-sampling interpolates columns first, then rows, as TF.js does; down-sampling does the
    rows first (gathering whole rows is a cheap copy and leaves less to interpolate), which
    changes the float32 rounding only (about 1e-5 of the value).
    """
    return _resample(src, rows, cols, rows.size < src.shape[0])


@dataclass(frozen=True, eq=False)
class Taps:
    """One axis of a sampling plan as the compiled loops read it (index, weight, validity)."""

    idx0: npt.NDArray[np.int32]
    idx1: npt.NDArray[np.int32]
    frac: F32
    valid0: npt.NDArray[np.bool_]
    valid1: npt.NDArray[np.bool_]
    keep0: F32  # valid0 as 1.0 / 0.0: a read times this is the read or the 0 it stands for
    keep1: F32


# A `Taps` as numba types: the compiled loops' signatures list one per axis.
TAPS = "int32[::1], int32[::1], float32[::1], boolean[::1], boolean[::1]"


@lru_cache(maxsize=64)
def taps(axis: AxisSampling) -> Taps:
    """`axis` for `runtime.jit` loops (geometry caches its plans, so this is built once)."""
    return Taps(
        axis.idx0.astype(np.int32),
        axis.idx1.astype(np.int32),
        axis.frac32,
        axis.valid0.copy(),
        axis.valid1.copy(),
        axis.valid0.astype(np.float32),
        axis.valid1.astype(np.float32),
    )


@jit(f"void(uint8[:, :, ::1], {TAPS}, {TAPS}, boolean, float32, float32, float32[:, :, :])")
def _resample_frame(
    frame: npt.NDArray[np.uint8],
    r0: npt.NDArray[np.int32],
    r1: npt.NDArray[np.int32],
    rf: F32,
    rv0: npt.NDArray[np.bool_],
    rv1: npt.NDArray[np.bool_],
    c0: npt.NDArray[np.int32],
    c1: npt.NDArray[np.int32],
    cf: F32,
    cv0: npt.NDArray[np.bool_],
    cv1: npt.NDArray[np.bool_],
    rows_first: bool,
    scale: np.float32,
    shift: np.float32,
    out: F32,
) -> None:
    """out[2 - c, y, x] = resample(frame, rows, cols)[y, x, c] * scale + shift: `resample`'s
    float32 operations in its order (BGR in, RGB planes out). Shrinking rows, the two source
    rows are blended into one float line first (a contiguous pass the compiler vectorises),
    then the columns are gathered from it; enlarging, one output pixel at a time."""
    zero = np.float32(0.0)
    width = frame.shape[1] * 3
    if rows_first:
        line = np.empty(width, np.float32)
        for y in range(r0.shape[0]):
            top, bottom = frame[r0[y]].reshape(width), frame[r1[y]].reshape(width)
            ok0, ok1, fy = rv0[y], rv1[y], rf[y]
            if ok0 and ok1:
                for k in range(width):
                    a = np.float32(top[k])
                    line[k] = a + (np.float32(bottom[k]) - a) * fy
            else:  # a row of the zero padding
                for k in range(width):
                    a = np.float32(top[k]) if ok0 else zero
                    b = np.float32(bottom[k]) if ok1 else zero
                    line[k] = a + (b - a) * fy
            for x in range(c0.shape[0]):
                i0, i1, fx, k0, k1 = c0[x] * 3, c1[x] * 3, cf[x], cv0[x], cv1[x]
                for c in range(3):
                    left = line[i0 + c] if k0 else zero
                    right = line[i1 + c] if k1 else zero
                    out[2 - c, y, x] = (left + (right - left) * fx) * scale + shift
        return
    for y in range(r0.shape[0]):
        top, bottom = frame[r0[y]], frame[r1[y]]
        ok0, ok1, fy = rv0[y], rv1[y], rf[y]
        for x in range(c0.shape[0]):
            x0, x1, fx = c0[x], c1[x], cf[x]
            k0, k1 = cv0[x], cv1[x]
            for c in range(3):
                tl = np.float32(top[x0, c]) if ok0 and k0 else zero
                tr = np.float32(top[x1, c]) if ok0 and k1 else zero
                bl = np.float32(bottom[x0, c]) if ok1 and k0 else zero
                br = np.float32(bottom[x1, c]) if ok1 and k1 else zero
                upper = tl + (tr - tl) * fx
                lower = bl + (br - bl) * fx
                out[2 - c, y, x] = (upper + (lower - upper) * fy) * scale + shift


def _preprocess_into(
    frame_bgr: npt.NDArray[np.uint8], geometry: FrameGeometry, scale: float, shift: float, out: F32
) -> None:
    rows, cols = geometry.preprocess()
    r, c = taps(rows), taps(cols)
    frame = np.ascontiguousarray(frame_bgr)
    _resample_frame(
        frame, r.idx0, r.idx1, r.frac, r.valid0, r.valid1,
        c.idx0, c.idx1, c.frac, c.valid0, c.valid1,
        rows.size < frame.shape[0], np.float32(scale), np.float32(shift), out,
    )  # fmt: skip


def preprocess(frame_bgr: npt.NDArray[np.uint8], geometry: FrameGeometry) -> F32:
    """BGR uint8 frame -> the model input: RGB float32 0..255 [H, W, 3], padded and resized
    (`resample` of the frame with `geometry.preprocess()`, the same numbers, one pass)."""
    h, w = geometry.input_size
    out = np.empty((h, w, 3), np.float32)
    _preprocess_into(frame_bgr, geometry, 1.0, 0.0, out.transpose(2, 0, 1))
    return out


def preprocess_planar(
    frame_bgr: npt.NDArray[np.uint8], geometry: FrameGeometry, scale: float, shift: float
) -> F32:
    """`preprocess`, then x * scale + shift (the model's normalisation, float32 like its Mul
    and Add), as [1, 3, H, W] RGB: the input of a graph without its first three ops."""
    h, w = geometry.input_size
    out = np.empty((1, 3, h, w), np.float32)
    _preprocess_into(frame_bgr, geometry, scale, shift, out[0])
    return out


def sigmoid(x: F32) -> F32:
    """Logistic function in float32 (in place on a fresh array)."""
    out = np.negative(x, dtype=np.float32)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def scale_and_crop(logits: F32, geometry: FrameGeometry) -> F32:
    """BodyPix's `scaleAndCropToInputTensorShape` with sigmoid: logits -> scores at frame size
    (NumPy all the way: the reference of `crop_scores`)."""
    up = resample(logits, *geometry.logits_upsampling())
    return resample(sigmoid(up), *geometry.crop())


# Columns of the crop: a read times keep0/keep1 (1.0 or 0.0) is the read or TF's extrapolated
# 0, exactly, for the finite scores (no branch in the loop).
KEEP_TAPS = "int32[::1], int32[::1], float32[::1], float32[::1], float32[::1]"


@jit(f"void(float32[:, ::1], {TAPS}, {KEEP_TAPS}, boolean, float32, boolean, float32[:, ::1])")
def _crop_loop(
    scores: F32,
    r0: npt.NDArray[np.int32],
    r1: npt.NDArray[np.int32],
    rf: F32,
    rv0: npt.NDArray[np.bool_],
    rv1: npt.NDArray[np.bool_],
    c0: npt.NDArray[np.int32],
    c1: npt.NDArray[np.int32],
    cf: F32,
    k0: F32,
    k1: F32,
    rows_first: bool,
    threshold: np.float32,
    binary: bool,
    out: F32,
) -> None:
    """out = resample(scores, rows, cols), or 1/0 where it is above/not above `threshold`
    (`binary`): the first axis `resample` interpolates is done once per source line into a
    scratch line set, the second per output pixel."""
    zero, one = np.float32(0.0), np.float32(1.0)
    h, w = out.shape
    if rows_first:
        line = np.empty(scores.shape[1], np.float32)
        for y in range(h):
            ok0, ok1, fy = rv0[y], rv1[y], rf[y]
            for j in range(scores.shape[1]):
                a = scores[r0[y], j] if ok0 else zero
                b = scores[r1[y], j] if ok1 else zero
                line[j] = a + (b - a) * fy
            for x in range(w):
                a = line[c0[x]] * k0[x]
                b = line[c1[x]] * k1[x]
                value = a + (b - a) * cf[x]
                out[y, x] = (one if value > threshold else zero) if binary else value
        return
    lo, hi = r0.min(), r1.max() + 1
    across = np.empty((hi - lo, w), np.float32)
    for r in range(lo, hi):
        source, line = scores[r], across[r - lo]
        for x in range(w):
            a = source[c0[x]] * k0[x]
            b = source[c1[x]] * k1[x]
            line[x] = a + (b - a) * cf[x]
    nothing = np.zeros(w, np.float32)  # an invalid row reads 0
    for y in range(h):
        upper = across[r0[y] - lo] if rv0[y] else nothing
        lower = across[r1[y] - lo] if rv1[y] else nothing
        fy, row = rf[y], out[y]
        if binary:
            for x in range(w):
                value = upper[x] + (lower[x] - upper[x]) * fy
                row[x] = one if value > threshold else zero
        else:
            for x in range(w):
                row[x] = upper[x] + (lower[x] - upper[x]) * fy


def crop_scores(scores: F32, geometry: FrameGeometry, threshold: float | None = None) -> F32:
    """BodyPix's crop-and-resize of the model-size `scores` [H, W] (finite) back to the
    frame: `resample(scores, *geometry.crop())`, or with `threshold` its mask (1 where
    strictly above, else 0), the same floats, in one compiled pass."""
    rows, cols = geometry.crop()
    r, c = taps(rows), taps(cols)
    out = np.empty(geometry.frame_size, np.float32)
    _crop_loop(
        np.ascontiguousarray(scores, np.float32), r.idx0, r.idx1, r.frac, r.valid0, r.valid1,
        c.idx0, c.idx1, c.frac, c.keep0, c.keep1, rows.size < rows.src_size,
        np.float32(threshold or 0.0), threshold is not None, out,
    )  # fmt: skip
    return out
