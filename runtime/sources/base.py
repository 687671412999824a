"""What every frame source (camera, stream, file, still image, demo clip) implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.arrays import BGRFrame
from core.errors import UserError


class SourceUnavailable(UserError):
    """The camera or stream cannot deliver frames now (unplugged, ended, unreachable).

    The pipeline shows a "camera unavailable" frame and reopens the source with backoff.
    """


@dataclass(frozen=True)
class SourceInfo:
    """What the source actually delivers (a camera may grant less than was asked for)."""

    kind: str  # "v4l2", "csi", "rtsp", "file", "image", "demo"
    description: str
    width: int
    height: int
    fps: float
    pixel_format: str  # "MJPG", "YUYV", "BGR", ...

    def summary(self) -> str:
        return (
            f"{self.description}: {self.width}x{self.height} {self.pixel_format} @ {self.fps:g} fps"
        )


class FrameSource(ABC):
    """Opened and read from the pipeline's capture thread only."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @abstractmethod
    def open(self) -> SourceInfo:
        """Open the device/stream/file; raise SourceUnavailable when it is not there now."""

    @abstractmethod
    def read(self) -> BGRFrame:
        """Block until the next frame; raise SourceUnavailable when the stream stops."""

    def read_into(self, buffer: BGRFrame) -> BGRFrame:
        """Like `read`, but decoded into `buffer` (a capture buffer of the processor) where the
        frame has its size; returns `buffer`, or a new array for a frame of another size."""
        frame = self.read()
        if frame.shape != buffer.shape:
            return frame
        np.copyto(buffer, frame)
        return buffer

    def skip(self) -> None:
        """Take the next frame without decoding it where the source can (a camera: grab()):
        how the pipeline keeps a camera streaming while it idles (runtime.pipeline.demand)."""
        self.read()

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice and on a source that never opened."""


class CaptureSource(FrameSource):
    """A source read through an OpenCV VideoCapture (V4L2 or CSI camera, stream, video file):
    one way for all of them to read, decode into a capture buffer and close."""

    stopped = "stopped delivering frames."  # how a failed read ends the message

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self._cap: cv2.VideoCapture | None = None

    @property
    @abstractmethod
    def label(self) -> str:
        """How messages name the source, e.g. "Camera /dev/video0"."""

    def read(self) -> BGRFrame:
        return self._read(None)

    def read_into(self, buffer: BGRFrame) -> BGRFrame:
        # OpenCV decodes into `buffer` when size and type match, else returns a new array.
        return self._read(buffer)

    def _capture(self) -> cv2.VideoCapture:
        if self._cap is None:
            raise SourceUnavailable(f"{self.label} is not open.")
        return self._cap

    def _next_frame(self, buffer: BGRFrame | None) -> tuple[bool, Any]:
        cap = self._capture()
        return cap.read(buffer) if buffer is not None else cap.read()

    def _read(self, buffer: BGRFrame | None) -> BGRFrame:
        ok, frame = self._next_frame(buffer)
        if not ok or frame is None:
            raise SourceUnavailable(f"{self.label} {self.stopped}")
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Pacer:
    """Sleeps so that synthetic sources (file, image, demo) deliver frames at a camera's rate."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            self._next += self.interval
        else:  # late (or first frame): restart the schedule instead of bursting to catch up
            self._next = now + self.interval
