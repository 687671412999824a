"""`image://photo.jpg`: a still photo delivered as a camera would, at the configured size and rate."""

from __future__ import annotations

import os

import numpy as np

from core.errors import UserError
from runtime.images import load_image, scale_to_cover
from runtime.sources.base import BGRFrame, FrameSource, Pacer, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri


class ImageSource(FrameSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.path = os.path.expanduser(uri.location)
        self.width, self.height, self.fps = width, height, fps
        self._pacer = Pacer(fps if uri.flag("pace", True) else 0)
        self._frame: BGRFrame | None = None

    def open(self) -> SourceInfo:
        try:
            image = load_image(self.path)
        except UserError as exc:
            raise SourceUnavailable(f"{exc} (source setting)") from None
        self._frame = scale_to_cover(image, self.height, self.width)
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

    def read_into(self, buffer: BGRFrame) -> BGRFrame:
        if self._frame is None or self._frame.shape != buffer.shape:
            return self.read()
        self._pacer.wait()
        np.copyto(buffer, self._frame)
        return buffer

    def close(self) -> None:
        self._frame = None
