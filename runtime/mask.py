"""From network logits to the person mask and part ids, as BodyPix does, plus video refinements.

`person_scores` / `part_ids` reproduce `segmentPerson` / `segmentPersonParts`; `MaskRefiner`
adds what BodyPix does not have and a live camera needs: feathered edges and temporal smoothing.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from runtime.geometry import FrameGeometry
from runtime.resample import F32, resample, scale_and_crop, sigmoid

NUM_PARTS = 24
I8 = npt.NDArray[np.int8]


def person_scores(segment_logits: F32, geometry: FrameGeometry) -> F32:
    """Person probability at frame size: align-corners upsample, sigmoid, crop-and-resize."""
    return scale_and_crop(segment_logits, geometry, parallel=True)


def threshold(scores: F32, segmentation_threshold: float) -> F32:
    """BodyPix's `toMaskTensor`: 1 where score > threshold (strictly), else 0, as float32."""
    return (scores > np.float32(segmentation_threshold)).astype(np.float32)


def part_ids(part_logits: F32, person: npt.NDArray[np.bool_], geometry: FrameGeometry) -> I8:
    """BodyPix's `decodePartSegmentation`: argmax part (0-23) where `person`, -1 elsewhere.

    Same result as `argmax(scale_and_crop(part_logits))` without interpolating 24 channels at
    frame size: each output pixel blends four source pixels of the (sigmoid) scores with
    non-negative weights, and when all four have the same argmax so has any blend of them
    (ties included: the first maximum stays first). Only person pixels whose four sources
    disagree, typically a few percent, are interpolated in full.
    """
    rows, cols = geometry.crop()
    scores = sigmoid(resample(part_logits, *geometry.logits_upsampling()))  # [H, W, 24]
    best = np.argmax(scores, axis=2).astype(np.int8)
    top, bottom = np.take(best, rows.idx0, axis=0), np.take(best, rows.idx1, axis=0)
    corners = [
        np.take(half, idx, axis=1) for half in (top, bottom) for idx in (cols.idx0, cols.idx1)
    ]
    ids = corners[0].copy()
    agree = (ids == corners[1]) & (ids == corners[2]) & (ids == corners[3])
    if not (rows.all_valid and cols.all_valid):
        # TF extrapolates 0 for every part there: argmax of all zeros is part 0.
        outside = ~(rows.valid0 & rows.valid1)[:, None] | ~(cols.valid0 & cols.valid1)[None, :]
        ids[outside] = 0
        agree |= outside
    ys, xs = np.nonzero(person & ~agree)
    if ys.size:
        r0, r1, fy = rows.idx0[ys], rows.idx1[ys], rows.frac32[ys][:, None]
        c0, c1, fx = cols.idx0[xs], cols.idx1[xs], cols.frac32[xs][:, None]
        upper = scores[r0, c0] + (scores[r0, c1] - scores[r0, c0]) * fx
        lower = scores[r1, c0] + (scores[r1, c1] - scores[r1, c0]) * fx
        ids[ys, xs] = np.argmax(upper + (lower - upper) * fy, axis=1)
    ids[~person] = -1
    return ids


def feather(mask: F32, width: int) -> F32:
    """Soft edge about `width` pixels wide instead of a hard cut (0 returns `mask`)."""
    if width <= 0:
        return mask
    # A Gaussian with sigma width/2 ramps over roughly `width` pixels each side of the edge.
    soft = cv2.GaussianBlur(mask, (0, 0), sigmaX=width / 2.0, borderType=cv2.BORDER_REPLICATE)
    return np.asarray(soft, dtype=np.float32)


class MaskRefiner:
    """Temporal smoothing (exponential moving average) of the mask between video frames."""

    def __init__(self) -> None:
        self._previous: F32 | None = None

    def reset(self) -> None:
        self._previous = None

    def smooth(self, mask: F32, strength: float) -> F32:
        """EMA: strength 0 passes `mask` through, 0.9 keeps 90 % of the previous mask."""
        if strength <= 0 or self._previous is None or self._previous.shape != mask.shape:
            self._previous = mask
            return mask
        out = np.asarray(
            cv2.addWeighted(self._previous, strength, mask, 1.0 - strength, 0.0), dtype=np.float32
        )
        self._previous = out
        return out
