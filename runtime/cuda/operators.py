"""Separable linear filters (resizes and blurs) as per-output weight tables for `filter_axis`.

Each axis of an OpenCV resize or blur is a linear operator: output i = sum_k weights[i, k] *
input[start[i] + k], borders included. Instead of re-deriving OpenCV's kernel sizes, area
weights and border rules, the tables are *measured* by running the CPU reference operation on
unit vectors: `runtime.mask.feather` directly, and `runtime.effects.common.css_blur` through
its plan (`css_blur_plan`: reduction factor, reduced size and sigma) and the same cv2 calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.arrays import F32, I32
from runtime.cuda.tables import RESAMPLE_TAP_DTYPE, Table
from runtime.effects.common import css_blur_plan

# Weights below this are rounding noise of the measurement (OpenCV's float kernels reach 1e-9).
NEGLIGIBLE = 1e-8


@dataclass(frozen=True, eq=False)
class AxisFilter:
    """out[i] = sum_k weights[i, k] * in[start[i] + k], k < taps (zero weights pad short rows)."""

    in_size: int
    start: I32  # [out_size]
    weights: F32  # [out_size, taps]

    @property
    def out_size(self) -> int:
        return int(self.start.shape[0])

    @property
    def taps(self) -> int:
        return int(self.weights.shape[1])

    def matrix(self) -> npt.NDArray[np.float64]:
        """The dense [out_size, in_size] operator (tests and host-side checks)."""
        dense = np.zeros((self.out_size, self.in_size))
        for i in range(self.out_size):
            span = slice(self.start[i], self.start[i] + self.taps)
            dense[i, span] = self.weights[i, : self.in_size - self.start[i]]
        return dense

    def as_resample_table(self) -> Table:
        """The 2-tap form the compositing kernel reads (linear enlargement)."""
        if self.taps > 2:
            raise ValueError(f"a {self.taps}-tap filter is not a linear resample")
        table = np.empty(self.out_size, RESAMPLE_TAP_DTYPE)
        table["i0"] = self.start
        table["i1"] = np.minimum(self.start + 1, self.in_size - 1)
        table["w1"] = self.weights[:, 1] if self.taps == 2 else 0.0
        return table


def from_matrix(dense: npt.ArrayLike) -> AxisFilter:
    """Compress a dense [out, in] operator into start + band weights."""
    m = np.asarray(dense, dtype=np.float64)
    in_size = m.shape[1]
    significant = np.abs(m) > NEGLIGIBLE * np.abs(m).max(axis=1, keepdims=True)
    first = significant.argmax(axis=1)
    last = in_size - 1 - significant[:, ::-1].argmax(axis=1)
    taps = int((last - first).max()) + 1
    start = np.minimum(first, in_size - taps).astype(np.int32)
    cols = start[:, None] + np.arange(taps)[None, :]
    weights = np.take_along_axis(m, cols, axis=1)
    return AxisFilter(in_size, start, weights.astype(np.float32))


def measure(apply_to_column: Callable[[F32], F32], n: int) -> AxisFilter:
    """The operator of a 1-D function on length-n columns, applied to each unit vector."""
    columns = []
    for j in range(n):
        unit = np.zeros((n, 1), np.float32)
        unit[j, 0] = 1.0
        columns.append(np.asarray(apply_to_column(unit), np.float64).reshape(-1))
    return from_matrix(np.stack(columns, axis=1))


def resize_filter(in_size: int, out_size: int, interpolation: int) -> AxisFilter:
    """One axis of `cv2.resize` (an identity image resized along x only)."""
    eye = np.eye(in_size, dtype=np.float32)
    resized = cv2.resize(eye, (out_size, in_size), interpolation=interpolation)
    return from_matrix(resized.T)


def gaussian_filter(size: int, sigma: float, border: int) -> AxisFilter:
    """One axis of `cv2.GaussianBlur(..., (0, 0), sigma, borderType=border)` (a 1-high kernel
    leaves the other axis alone, so the identity image measures this one)."""
    eye = np.eye(size, dtype=np.float32)
    blurred = cv2.GaussianBlur(eye, (0, 1), sigmaX=sigma, sigmaY=0, borderType=border)
    return from_matrix(blurred.T)


@dataclass(frozen=True, eq=False)
class CssBlurFilters:
    """`css_blur` of an h x w image as separable passes: shrink, blur, enlarge (per axis)."""

    factor: int
    small_size: tuple[int, int]  # (h, w)
    shrink: tuple[AxisFilter, AxisFilter] | None  # (rows, cols); None when factor == 1
    blur: tuple[AxisFilter, AxisFilter]
    enlarge: tuple[AxisFilter, AxisFilter] | None


def css_blur_filters(h: int, w: int, sigma: float) -> CssBlurFilters:
    """The passes of `runtime.effects.common.css_blur(image_h_by_w, sigma)` (sigma > 0)."""
    plan = css_blur_plan(h, w, sigma)
    sw, sh = plan.small_size
    # css_blur's cv2 calls, axis by axis: INTER_AREA shrink, GaussianBlur BORDER_REFLECT,
    # INTER_LINEAR enlarge.
    blur = (
        gaussian_filter(sh, plan.small_sigma, cv2.BORDER_REFLECT),
        gaussian_filter(sw, plan.small_sigma, cv2.BORDER_REFLECT),
    )
    if plan.factor == 1:
        return CssBlurFilters(1, (h, w), None, blur, None)
    shrink = (
        resize_filter(h, sh, cv2.INTER_AREA),
        resize_filter(w, sw, cv2.INTER_AREA),
    )
    enlarge = (
        resize_filter(sh, h, cv2.INTER_LINEAR),
        resize_filter(sw, w, cv2.INTER_LINEAR),
    )
    return CssBlurFilters(plan.factor, (sh, sw), shrink, blur, enlarge)
