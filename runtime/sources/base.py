"""What every frame source (camera, stream, file, still image, demo clip) implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from convert.errors import UserError
from core.arrays import BGRFrame


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
