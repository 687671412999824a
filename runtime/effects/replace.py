"""Background replacement: a picture or a looping video, scaled to cover the frame."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from core.errors import UserError
from runtime.effects.common import F32, U8, blend_blurred_mask
from runtime.images import load_image, scale_to_cover

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
# With no background chosen yet the person is shown over a neutral grey (BGR).
DEFAULT_COLOR = (128, 128, 128)


class Background:
    """The replacement background: a still picture, a looping video, or a flat colour."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._still: U8 | None = None
        self._video: cv2.VideoCapture | None = None
        self._cache: U8 | None = None
        if self.path is None:
            return
        if not self.path.is_file():
            raise UserError(
                f"Background {self.path} does not exist: give the path of a picture or a video."
            )
        if self.path.suffix.lower() in VIDEO_SUFFIXES:
            self._video = cv2.VideoCapture(str(self.path))
            ok, _ = self._video.read() if self._video.isOpened() else (False, None)
            if not ok:
                raise UserError(
                    f"Background video {self.path} cannot be decoded: use an MP4/H.264 or an image."
                )
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
        else:
            self._still = load_image(self.path)

    def frame(self, height: int, width: int) -> U8:
        """The background for the next output frame, exactly (height, width)."""
        if self._video is not None:
            ok, image = self._video.read()
            if not ok:  # end of the clip: loop
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = self._video.read()
            if ok:
                self._still = np.asarray(image, dtype=np.uint8)
        if self._still is None:
            if self._cache is None or self._cache.shape[:2] != (height, width):
                self._cache = np.full((height, width, 3), DEFAULT_COLOR, dtype=np.uint8)
            return self._cache
        if (
            self._video is None
            and self._cache is not None
            and self._cache.shape[:2] == (height, width)
        ):
            return self._cache
        self._cache = scale_to_cover(self._still, height, width)
        return self._cache

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None


def replace(frame: U8, mask: F32, background: U8, edge_blur_amount: int) -> U8:
    """The person over `background` (already frame-sized), edges softened like the bokeh mask."""
    # = blend(frame, background, person_alpha(mask, edge_blur_amount)), the same pixels.
    return blend_blurred_mask(frame, background, mask, edge_blur_amount)
