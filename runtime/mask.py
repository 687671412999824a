"""From network logits to the person mask and part ids, as BodyPix does, plus video refinements.

`person_scores` / `part_ids` reproduce `segmentPerson` / `segmentPersonParts`; `MaskRefiner`
adds what BodyPix does not have and a live camera needs: feathered edges and temporal smoothing.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from runtime.geometry import FrameGeometry
from runtime.resample import F32, scale_and_crop

NUM_PARTS = 24
I8 = npt.NDArray[np.int8]


def person_scores(segment_logits: F32, geometry: FrameGeometry) -> F32:
    """Person probability at frame size: align-corners upsample, sigmoid, crop-and-resize."""
    return scale_and_crop(segment_logits, geometry)


def threshold(scores: F32, segmentation_threshold: float) -> F32:
    """BodyPix's `toMaskTensor`: 1 where score > threshold (strictly), else 0, as float32."""
    return (scores > np.float32(segmentation_threshold)).astype(np.float32)


def part_ids(part_logits: F32, person: npt.NDArray[np.bool_], geometry: FrameGeometry) -> I8:
    """BodyPix's `decodePartSegmentation`: argmax part (0-23) where `person`, -1 elsewhere."""
    scores = scale_and_crop(part_logits, geometry)
    ids = np.argmax(scores, axis=2).astype(np.int8)
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
