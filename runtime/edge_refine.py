"""Edge refinement guided by the camera frame: the guided filter (He, Sun, Tang, ECCV 2010).

BodyPix's mask comes from stride-16 (or 8) logits upsampled to the frame: its edges are blocky
and ignore the picture. The guided filter fits, in every window of radius r, the mask p as a
linear function of the frame's gray levels I, a = cov(I, p) / (var(I) + eps),
b = mean(p) - a mean(I), and outputs mean(a) I + mean(b): where the frame has an edge the mask
follows it, where the frame is flat the mask is smoothed. The window means are box filters.

As in the "fast guided filter" (He & Sun, 2015) the coefficients are computed on the frame
shrunk `subsample` times (s x s block means) and enlarged bilinearly for the last step, which
runs at full resolution: the cost is a few full-resolution passes whatever the radius.

OpenCV has the filter as `cv2.ximgproc.guidedFilter`, but only in opencv-contrib, which the
headless wheel the appliance installs lacks; it is a few box filters, so it is written out here.
The steps are the CUDA kernels of runtime/cuda/edge_refine.cu, tested against this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.arrays import F32, U8

# Gray levels from BGR (BT.601 luma, as cv2.COLOR_BGR2GRAY) scaled to 0..1.
GRAY_WEIGHTS = np.array([[0.114 / 255.0, 0.587 / 255.0, 0.299 / 255.0]], dtype=np.float32)
# The filter's output is stretched so STRETCH_LOW..STRETCH_HIGH becomes 0..1: the edge stays
# where the frame has it, and the faint halo the filter spreads over a window where the frame
# has no edge (low-contrast hair against a wall) goes.
STRETCH_LOW, STRETCH_HIGH = 0.2, 0.8


@dataclass(frozen=True)
class GuidedPlan:
    """The numbers one guided filter pass uses at a frame size (shared with the CUDA twin)."""

    subsample: int  # s: coefficients computed on s x s block means (1: full resolution)
    small_size: tuple[int, int]  # (w, h) at that size: ceil(w / s), ceil(h / s)
    radius: int  # box radius at that size (window 2r+1)
    eps: float  # regulariser, guide in 0..1 units


def guided_plan(h: int, w: int, radius: int, eps: float) -> GuidedPlan:
    """Shrink while the box radius stays at least 2 px (at most 4x)."""
    s = max(1, min(4, radius // 2))
    small = (-(-w // s), -(-h // s))
    return GuidedPlan(s, small, max(1, round(radius / s)), float(eps))


def guide_gray(frame_bgr: U8) -> F32:
    """The guide: gray levels in 0..1 (one channel: a third of the colour filter's work)."""
    return np.asarray(cv2.transform(frame_bgr.astype(np.float32), GRAY_WEIGHTS), np.float32)


def shrink(image: F32, s: int) -> F32:
    """Means of s x s blocks; the last blocks are completed by repeating the border pixels."""
    if s == 1:
        return image
    h, w = image.shape[:2]
    ph, pw = -(-h // s) * s, -(-w // s) * s
    if (ph, pw) != (h, w):
        image = np.asarray(
            cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE), np.float32
        )
    return np.asarray(
        cv2.resize(image, (pw // s, ph // s), interpolation=cv2.INTER_AREA), np.float32
    )


def enlarge(image: F32, s: int, h: int, w: int) -> F32:
    """Bilinear, block centres to pixel centres: the inverse geometry of `shrink`."""
    if s == 1:
        return image
    sh, sw = image.shape[:2]
    big = cv2.resize(image, (sw * s, sh * s), interpolation=cv2.INTER_LINEAR)
    return np.asarray(big[:h, :w], np.float32)


def box(image: F32, radius: int) -> F32:
    """Mean over the (2r+1)^2 window, the border mirrored (cv2.BORDER_REFLECT: fedcba|abcdef)."""
    k = 2 * radius + 1
    return np.asarray(
        cv2.boxFilter(image, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT),
        np.float32,
    )


def guided_coefficients(guide: F32, mask: F32, radius: int, eps: float) -> tuple[F32, F32]:
    """The linear model (a, b) of every window, before averaging."""
    mean_i = box(guide, radius)
    mean_p = box(mask, radius)
    cov_ip = box(guide * mask, radius) - mean_i * mean_p
    var_i = box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return a, b


def guided_filter(frame_bgr: U8, mask: F32, radius: int = 8, eps: float = 1e-3) -> F32:
    """The mask refined along the frame's edges, float32 [h, w] in 0..1 (then stretched)."""
    h, w = mask.shape
    plan = guided_plan(h, w, radius, eps)
    s = plan.subsample
    guide = guide_gray(frame_bgr)
    a, b = guided_coefficients(shrink(guide, s), shrink(mask, s), plan.radius, plan.eps)
    mean_a = enlarge(box(a, plan.radius), s, h, w)
    mean_b = enlarge(box(b, plan.radius), s, h, w)
    gain = np.float32(1.0 / (STRETCH_HIGH - STRETCH_LOW))
    # ((a I + b) - low) * gain, as the apply kernel computes it.
    out = mean_a * guide
    out += mean_b
    out -= np.float32(STRETCH_LOW)
    out *= gain
    np.clip(out, 0.0, 1.0, out=out)
    return out
