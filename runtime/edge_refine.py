"""Edge refinement guided by the camera frame: the guided filter (He, Sun, Tang, ECCV 2010).

BodyPix's mask comes from stride-16 (or 8) logits upsampled to the frame: its edges are blocky
and ignore the picture. The guided filter fits, in every window of radius r, the mask as a linear
function of the frame's gray levels, a = cov(I, p) / (var(I) + eps), b = mean(p) - a mean(I),
and outputs mean(a) I + mean(b): where the frame has an edge the mask follows it, where the frame
is flat the mask is smoothed. Box means are `cv2.boxFilter` (O(1) per pixel in r).

OpenCV's own `cv2.ximgproc.guidedFilter` lives in opencv-contrib, which the headless wheel the
appliance installs lacks; the filter is a few box filters, so it is written out here, and the
same steps are the CUDA kernels in runtime/cuda/guided_filter.cu (tested against this).

For speed the coefficients are computed on a frame shrunk `subsample` times (the "fast guided
filter", He & Sun 2015) and upsampled before the last step, which runs at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class GuidedPlan:
    """The numbers one guided filter pass uses at a frame size (shared with the CUDA twin)."""

    subsample: int  # s: coefficients computed at 1/s size (1: full resolution)
    small_size: tuple[int, int]  # (w, h) at that size
    radius: int  # box radius at that size (window 2r+1)
    eps: float  # regulariser, guide in 0..1 units


def guided_plan(h: int, w: int, radius: int, eps: float) -> GuidedPlan:
    """Shrink so the box radius stays at least 2 px (and at most 4x): the fast guided filter."""
    s = max(1, min(4, radius // 2))
    small = (max(1, round(w / s)), max(1, round(h / s)))
    return GuidedPlan(s, small, max(1, round(radius / s)), float(eps))


def guide_gray(frame_bgr: U8) -> F32:
    """The guide: gray levels in 0..1 (one channel: a third of the colour filter's work)."""
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return np.asarray(gray, dtype=np.float32) * np.float32(1.0 / 255.0)


def _box(image: F32, radius: int) -> F32:
    k = 2 * radius + 1
    return np.asarray(
        cv2.boxFilter(image, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT),
        dtype=np.float32,
    )


def guided_coefficients(guide: F32, mask: F32, radius: int, eps: float) -> tuple[F32, F32]:
    """The per-pixel linear model (mean a, mean b) of the guided filter at the given size."""
    mean_i = _box(guide, radius)
    mean_p = _box(mask, radius)
    corr_ip = _box(guide * mask, radius)
    corr_ii = _box(guide * guide, radius)
    var_i = corr_ii - mean_i * mean_i
    a = (corr_ip - mean_i * mean_p) / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return _box(a, radius), _box(b, radius)


def guided_filter(frame_bgr: U8, mask: F32, radius: int = 8, eps: float = 1e-3) -> F32:
    """The mask refined along the frame's edges, float32 [h, w] clipped to 0..1."""
    h, w = mask.shape
    plan = guided_plan(h, w, radius, eps)
    guide = guide_gray(frame_bgr)
    if plan.subsample == 1:
        small_guide, small_mask = guide, mask
    else:
        small_guide = np.asarray(
            cv2.resize(guide, plan.small_size, interpolation=cv2.INTER_AREA), np.float32
        )
        small_mask = np.asarray(
            cv2.resize(mask, plan.small_size, interpolation=cv2.INTER_AREA), np.float32
        )
    mean_a, mean_b = guided_coefficients(small_guide, small_mask, plan.radius, plan.eps)
    if plan.subsample != 1:
        mean_a = np.asarray(cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
        mean_b = np.asarray(cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    out = mean_a * guide
    out += mean_b
    np.clip(out, 0.0, 1.0, out=out)
    return out
