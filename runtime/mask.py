"""From network logits to the person mask and part ids, as BodyPix does, plus video refinements.

`person_scores` / `person_mask` / `part_ids` reproduce `segmentPerson` / `segmentPersonParts`;
`MaskRefiner` adds what BodyPix does not have and a live camera needs: temporal smoothing, edge
refinement guided by the frame, and feathered edges.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from core.arrays import I8
from runtime.edge_refine import guided_filter
from runtime.geometry import FrameGeometry
from runtime.jit import jit
from runtime.resample import F32, crop_scores, resample, sigmoid
from runtime.settings import Settings

NUM_PARTS = 24


def model_scores(segment_logits: F32, geometry: FrameGeometry) -> F32:
    """Person probability at the model's input size: align-corners upsample, sigmoid."""
    return sigmoid(resample(segment_logits, *geometry.logits_upsampling()))


def person_scores(segment_logits: F32, geometry: FrameGeometry) -> F32:
    """Person probability at frame size: align-corners upsample, sigmoid, crop-and-resize."""
    return crop_scores(model_scores(segment_logits, geometry), geometry)


def threshold(scores: F32, segmentation_threshold: float) -> F32:
    """BodyPix's `toMaskTensor`: 1 where score > threshold (strictly), else 0, as float32."""
    return (scores > np.float32(segmentation_threshold)).astype(np.float32)


def person_mask(segment_logits: F32, geometry: FrameGeometry, segmentation_threshold: float) -> F32:
    """`threshold(person_scores(...))`, the same floats, thresholded as they are interpolated
    (one pass at frame size, no score image)."""
    scores = model_scores(segment_logits, geometry)
    return crop_scores(scores, geometry, segmentation_threshold)


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


# Motion-aware smoothing: frame differences are measured at 1/_MOTION_SCALE size, where sensor
# noise (sigma 2-3 levels) averages down to well under a level; a mean difference of
# _STILL_LEVELS or less counts as still, _MOVING_LEVELS or more as moving.
_MOTION_SCALE = 4
_STILL_LEVELS = 1.5
_MOVING_LEVELS = 4.0
# How far (small-size px) motion reaches: BodyPix's edge can sit a stride (16 px) off the
# picture's edge, and the edge that moved must be followed where the mask has it.
_MOTION_REACH = 4
# Hysteresis around the threshold, in probability, where the picture is still.
HYSTERESIS = 0.15
# The same numbers for the CUDA twin of MaskRefiner.smooth_motion (runtime/cuda/mask.py).
MOTION_SCALE, MOTION_REACH = _MOTION_SCALE, _MOTION_REACH
STILL_LEVELS, MOVING_LEVELS = _STILL_LEVELS, _MOVING_LEVELS


# A person pixel's decision and the side it leaves for the next frame, and a background
# pixel's, as the step-by-step expressions give them: decision = (255 or 0) * float32(1 / 255),
# side = addWeighted(decision, -2, decision, 0, 1) = 1 - 2 * decision.
_DECISION = (
    np.float32(255) * np.float32(1.0 / 255.0),
    np.float32(1.0 - 2.0 * float(np.float32(255) * np.float32(1.0 / 255.0))),
    np.float32(0.0),
    np.float32(1.0),
)


@jit(
    "void(float32[:, ::1], float32[:, ::1], float32[:, ::1], float32[:, ::1], float32[:, ::1], "
    "float32, float32, float32, float32, float32, float32[:, ::1])"
)
def _motion_step(
    previous: F32,
    scores: F32,
    keep: F32,
    side: F32,
    margin: F32,
    threshold: np.float32,
    person: np.float32,
    person_side: np.float32,
    background: np.float32,
    background_side: np.float32,
    decision: F32,
) -> None:
    """One frame of motion smoothing at full size, in place in `previous` (the averaged
    probability) and `side`: averaged = (previous - scores) * keep + scores; a pixel is a
    person where averaged > side * margin + threshold (hysteresis); `decision` gets 1/0."""
    for y in range(scores.shape[0]):
        for x in range(scores.shape[1]):
            s = scores[y, x]
            averaged = (previous[y, x] - s) * keep[y, x] + s
            previous[y, x] = averaged
            if averaged > side[y, x] * margin[y, x] + threshold:
                decision[y, x], side[y, x] = person, person_side
            else:
                decision[y, x], side[y, x] = background, background_side


class MaskRefiner:
    """What a live camera adds to BodyPix's mask: temporal smoothing, edge refinement, feathering.

    Smoothing methods (`Settings.smoothing_method`, strength `Settings.smoothing`):
    - "ema": exponential moving average of the mask. Less flicker, but a moving edge trails.
    - "motion": motion-aware. The person probability is averaged over time only where the frame
      did not change (strength = the share of the previous average kept there) and taken as is
      where it did; the threshold has hysteresis where the frame is still, so noise around the
      threshold does not flip pixels. The mask stays binary like BodyPix's, and the first frame
      after a reset is exactly BodyPix's.
    """

    def __init__(self) -> None:
        self._previous: F32 | None = None  # EMA state: the last output mask
        self._scores: F32 | None = None  # motion state: time-averaged probability
        self._decision: F32 | None = None  # motion state: -1 where person last frame, +1 not
        self._small: F32 | None = None  # motion state: last frame, gray, shrunk

    def reset(self) -> None:
        self._previous = self._scores = self._decision = self._small = None

    @staticmethod
    def needs_scores(settings: Settings) -> bool:
        """Whether `refine` reads the full-size person scores (motion smoothing does)."""
        return settings.smoothing > 0 and settings.smoothing_method == "motion"

    def refine(
        self,
        frame: npt.NDArray[np.uint8],
        scores: F32 | None,
        mask: F32,
        settings: Settings,
    ) -> F32:
        """The mask the compositor gets: `mask` (thresholded `scores`), smoothed over time,
        refined along the frame's edges, feathered, per `settings` (all off: `mask` itself).
        `scores` may be None when `needs_scores(settings)` is False."""
        s = settings
        motion = self.needs_scores(s)
        if motion:
            if scores is None:
                raise ValueError("motion smoothing needs the person scores")
            mask = self.smooth_motion(frame, scores, s.segmentation_threshold, s.smoothing)
        if s.edge_refine == "guided":
            mask = guided_filter(frame, mask, s.edge_refine_radius, s.edge_refine_eps)
        mask = feather(mask, s.feather)
        if not motion:
            mask = self.smooth(mask, s.smoothing)
        return mask

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

    def stillness(self, frame: npt.NDArray[np.uint8]) -> F32 | None:
        """How still the frame stayed since the last call, 1 (still) to 0 (moved), at
        1/_MOTION_SCALE size (None for the first frame or a new size)."""
        h, w = frame.shape[:2]
        size = (max(1, w // _MOTION_SCALE), max(1, h // _MOTION_SCALE))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        small = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), np.float32)
        previous, self._small = self._small, small
        if previous is None or previous.shape != small.shape:
            return None
        diff = cv2.blur(cv2.absdiff(small, previous), (3, 3))
        reach = 2 * _MOTION_REACH + 1
        diff = cv2.dilate(diff, np.ones((reach, reach), np.uint8))
        still = (np.float32(_MOVING_LEVELS) - diff) * np.float32(
            1.0 / (_MOVING_LEVELS - _STILL_LEVELS)
        )
        np.clip(still, 0.0, 1.0, out=still)
        return np.asarray(still, np.float32)

    def smooth_motion(
        self,
        frame: npt.NDArray[np.uint8],
        scores: F32,
        segmentation_threshold: float,
        strength: float,
    ) -> F32:
        """Motion-aware smoothing of the probability with hysteresis (see the class)."""
        still = self.stillness(frame)
        thr = float(segmentation_threshold)
        previous, side = self._scores, self._decision
        if still is None or previous is None or side is None or previous.shape != scores.shape:
            self._scores = scores.copy()
            decision = (scores > np.float32(thr)).astype(np.float32)
            self._decision = 1.0 - 2.0 * decision  # -1 person, +1 background
            return decision
        h, w = scores.shape
        # The stillness map is enlarged twice, already scaled, instead of scaling it at full
        # size; the rest is one compiled pass (_motion_step).
        keep = cv2.resize(still * np.float32(strength), (w, h), interpolation=cv2.INTER_LINEAR)
        margin = cv2.resize(still * np.float32(HYSTERESIS), (w, h), interpolation=cv2.INTER_LINEAR)
        decision = np.empty((h, w), np.float32)
        _motion_step(
            previous, np.ascontiguousarray(scores, np.float32), np.asarray(keep, np.float32),
            side, np.asarray(margin, np.float32), np.float32(thr), *_DECISION, decision,
        )  # fmt: skip
        return decision
