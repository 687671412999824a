"""`image://photo.jpg`: a still photo delivered as a camera would, at the configured size and rate."""

from __future__ import annotations

import os

import cv2
import numpy as np

from runtime.sources.base import BGRFrame, FrameSource, Pacer, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri


def fit_cover(image: BGRFrame, width: int, height: int) -> BGRFrame:
    """Scale to cover width x height and crop the centre: no distortion, no borders."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x, y = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y : y + height, x : x + width])


class ImageSource(FrameSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.path = os.path.expanduser(uri.location)
        self.width, self.height, self.fps = width, height, fps
        self._pacer = Pacer(fps if uri.flag("pace", True) else 0)
        self._frame: BGRFrame | None = None

    def open(self) -> SourceInfo:
        if not os.path.isfile(self.path):
            raise SourceUnavailable(
                f"Image {self.path} does not exist; check the path in the source setting."
            )
        # IMREAD_COLOR turns grayscale, alpha and 16-bit images into 8-bit BGR.
        image = cv2.imread(self.path, cv2.IMREAD_COLOR)
        if image is None:
            raise SourceUnavailable(f"Image {self.path} cannot be decoded; use a JPEG or PNG file.")
        self._frame = fit_cover(np.asarray(image, dtype=np.uint8), self.width, self.height)
        return SourceInfo(
            "image",
            f"image {os.path.basename(self.path)}",
            self.width,
            self.height,
            self.fps,
            "BGR",
        )

    def read(self) -> BGRFrame:
        if self._frame is None:
            raise SourceUnavailable(f"Image {self.path} is not open.")
        self._pacer.wait()
        return self._frame.copy()  # consumers may draw on their frame

    def close(self) -> None:
        self._frame = None
