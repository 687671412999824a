"""Flicker and motion lag of the live mask, measured on clips with a known truth.

Two synthetic clips made from a real photo (the astronaut that ships in runtime/assets):
- still: the photo with fresh Gaussian sensor noise in every frame (sigma a few levels). Truth:
  nothing moves, so every change of the mask between frames is flicker.
- pan: the same photo (and noise) shifted sideways by a constant number of px per frame (the
  vacated strip repeats the border column): everything moves. Truth: the first frame's mask,
  shifted.
- walk: the person alone moves sideways at that speed over a still background: cut out of the
  photo with BodyPix's own mask of it (edge softened 1 px) and pasted over the photo mirrored and
  defocused. Truth: the first frame's mask, shifted.

Figures, from the mask the compositor receives (`FrameProcessor.segment(...).mask`):
- flips: share of frame pixels whose person/background decision (mask > 0.5) changes between
  consecutive frames of the still clip, averaged over the clip.
- edge_change: mean |alpha(t) - alpha(t-1)| over the edge band (pixels within `EDGE_BAND` px of
  the first frame's mask edge) of the still clip.
- lag: on a moving clip, how many frames the mask trails the true position. For every frame
  the first frame's mask is slid sideways to where the mask matches best (least mean |difference|
  over the inner columns); lag = (true shift - found shift) / speed, averaged over the clip after
  the first few frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.arrays import F32, U8
from runtime.demo import PHOTO

EDGE_BAND = 8  # px either side of the edge
SETTLE_FRAMES = 4  # frames left out of the lag average while a smoother catches up
LAG_STEP = 0.25  # px resolution of the shift search


def load_photo() -> U8:
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if photo is None:
        raise FileNotFoundError(f"photo missing: {PHOTO}")
    return np.asarray(photo, dtype=np.uint8)


def _noisy(image: U8, sigma: float, rng: np.random.Generator) -> U8:
    noise = rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.asarray(np.clip(image.astype(np.float32) + noise + 0.5, 0, 255), dtype=np.uint8)


def still_clip(photo: U8, frames: int, sigma: float, seed: int = 0) -> list[U8]:
    """The photo with independent sensor noise of `sigma` levels in each frame."""
    rng = np.random.default_rng(seed)
    return [_noisy(photo, sigma, rng) for _ in range(frames)]


def shifted(image: np.ndarray, dx: float) -> np.ndarray:
    """`image` moved right by `dx` px (sub-pixel: bilinear), the border column repeated."""
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]], dtype=np.float32)
    h, w = image.shape[:2]
    return np.asarray(
        cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    )


def moving_clip(photo: U8, frames: int, speed: float, sigma: float, seed: int = 1) -> list[U8]:
    """The photo moving right by `speed` px per frame, with sensor noise."""
    rng = np.random.default_rng(seed)
    return [_noisy(shifted(photo, speed * t), sigma, rng) for t in range(frames)]


def person_clip(
    photo: U8, person: F32, frames: int, speed: float, sigma: float, seed: int = 2
) -> list[U8]:
    """The person (`person`: its alpha in `photo`) moving right by `speed` px per frame over a
    still background (the photo mirrored and defocused: the same colours, no second person)."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(photo[:, ::-1], (0, 0), 25).astype(np.float32)
    out = []
    for t in range(frames):
        alpha = shifted(person, speed * t)[:, :, None]
        moved = shifted(photo, speed * t).astype(np.float32)
        frame = np.clip(moved * alpha + background * (1 - alpha), 0, 255).astype(np.uint8)
        out.append(_noisy(frame, sigma, rng))
    return out


def edge_band(mask: F32, width: int = EDGE_BAND) -> npt.NDArray[np.bool_]:
    person = (mask > 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return np.asarray(cv2.dilate(person, kernel) != cv2.erode(person, kernel))


@dataclass(frozen=True)
class Flicker:
    flips: float  # share of frame pixels, per frame pair
    edge_change: float  # mean |alpha(t) - alpha(t-1)| in the edge band


def flicker(masks: Sequence[F32]) -> Flicker:
    band = edge_band(masks[0])
    flips, change = [], []
    for before, after in itertools.pairwise(masks):
        flips.append(float(((before > 0.5) != (after > 0.5)).mean()))
        change.append(float(np.abs(after - before)[band].mean()) if band.any() else 0.0)
    return Flicker(float(np.mean(flips)), float(np.mean(change)))


def max_travel(width: int) -> float:
    """The farthest a clip may move (px) for `motion_lag` to keep inner columns to compare."""
    return (width - 32) / 2 - 2 * EDGE_BAND


def motion_lag(masks: Sequence[F32], speed: float, truth: F32 | None = None) -> float:
    """Frames by which the masks of the moving clip trail the true motion (see the module)."""
    reference = masks[0] if truth is None else truth
    frames = len(masks)
    w = reference.shape[1]
    margin = int(np.ceil(speed * frames)) + 2 * EDGE_BAND
    if speed <= 0 or 2 * margin > w - 32:
        raise ValueError(f"clip too long for its width: {frames} frames at {speed} px/frame")
    inner = slice(margin, w - margin)
    lags = []
    for t in range(SETTLE_FRAMES, frames):
        truth_shift = speed * t
        # Candidates from 3 frames behind to 1 ahead of the truth.
        candidates = np.arange(truth_shift - 3 * speed, truth_shift + speed + 1e-9, LAG_STEP)
        errors = [
            float(np.abs(masks[t][:, inner] - shifted(reference, dx)[:, inner]).mean())
            for dx in candidates
        ]
        best = float(candidates[int(np.argmin(errors))])
        lags.append((truth_shift - best) / speed)
    return float(np.mean(lags))


def run_clip(
    segment: Callable[[U8], F32], reset: Callable[[], None], clip: Sequence[U8]
) -> list[F32]:
    """The mask of every frame of `clip`, from a fresh smoothing state."""
    reset()
    return [segment(frame) for frame in clip]
