"""`rtsp://host/path`: a network camera through OpenCV's FFmpeg backend, with timeouts."""

from __future__ import annotations

import os
import re

import cv2
import numpy as np

from runtime.sources.base import BGRFrame, FrameSource, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri

TIMEOUT_MS = 5000


def redact(url: str) -> str:
    """The URL without its password, for logs and the status page."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


class RtspSource(FrameSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.url = uri.location
        self.transport = uri.options.get("transport", "tcp")  # TCP: no smeared frames on loss
        self.fps = fps
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> SourceInfo:
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{self.transport}")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            TIMEOUT_MS,
        ]
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(
                f"Stream {redact(self.url)} could not be opened; check the address, credentials and that the camera is on the network."
            )
        self._cap = cap
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or self.fps
        return SourceInfo("rtsp", f"RTSP {redact(self.url)}", width, height, fps, "H.264/H.265")

    def read(self) -> BGRFrame:
        return self._read(None)

    def read_into(self, buffer: BGRFrame) -> BGRFrame:
        # OpenCV decodes into `buffer` when size and type match, else returns a new array.
        return self._read(buffer)

    def _read(self, buffer: BGRFrame | None) -> BGRFrame:
        if self._cap is None:
            raise SourceUnavailable(f"Stream {redact(self.url)} is not open.")
        ok, frame = self._cap.read(buffer) if buffer is not None else self._cap.read()
        if not ok or frame is None:
            raise SourceUnavailable(f"Stream {redact(self.url)} stopped delivering frames.")
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
