"""`mjpeg://`: the newest frame kept in memory as a JPEG for the web panel's live preview.

The output thread only stores a reference to the frame (free); the JPEG is encoded on the
first read of each new frame, once, and shared by every reader. So nothing is encoded while
nobody watches, and a preview never slows the pipeline down: the encode runs outside the lock
`write()` takes (an encode takes longer than a frame interval at 1080p60 here, at 720p on a
Jetson), under a second lock that only readers wait on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from runtime.outputs.base import BGRFrame, FrameOutput

DEFAULT_QUALITY = 80


class MjpegOutput(FrameOutput):
    """Latest-frame JPEG buffer. Thread-safe: one writer, any number of readers."""

    def __init__(self, uri: str = "mjpeg://", quality: int = DEFAULT_QUALITY, max_width: int = 0):
        self.uri = uri
        self.quality = int(min(max(quality, 10), 100))
        self.max_width = int(max_width)  # 0 = full size; else downscale the preview
        self._cond = threading.Condition()  # frame, sequence, cached JPEG, options
        self._encode_lock = threading.Lock()  # one encode at a time: each frame encoded once
        self._options = 0  # bumped by configure(): a JPEG encoded before is not cached
        self._seq = 0
        self._frame: BGRFrame | None = None
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._encodes = 0
        self._last_read = 0.0
        self._closed = False  # readers get no more frames (the service is stopping)
        # On demand (runtime.pipeline.demand): a read wakes an idle pipeline; `viewers` counts
        # the streams waiting for the next frame now.
        self.on_read: Callable[[], None] | None = None
        self.viewers = 0

    @property
    def description(self) -> str:
        size = f", max width {self.max_width}" if self.max_width else ""
        return f"MJPEG preview buffer (quality {self.quality}{size})"

    @property
    def encodes(self) -> int:
        """How many JPEGs were encoded so far (at most one per frame written)."""
        return self._encodes

    @property
    def closed(self) -> bool:
        """True after close(): open previews should end (`wait_next` returns None at once)."""
        return self._closed

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    @property
    def seconds_since_read(self) -> float:
        return time.monotonic() - self._last_read if self._last_read else float("inf")

    def configure(self, quality: int, max_width: int) -> None:
        with self._cond:
            self.quality = int(min(max(quality, 10), 100))
            self.max_width = int(max(max_width, 0))
            self._jpeg = None  # re-encode the current frame with the new options
            self._options += 1

    def write(self, frame: BGRFrame) -> None:
        with self._cond:
            self._frame = frame  # the pipeline never mutates a frame after handing it over
            self._seq += 1
            self._cond.notify_all()

    def latest(self) -> tuple[int, bytes] | None:
        """(sequence number, JPEG bytes) of the newest frame, or None before the first frame."""
        with self._cond:
            self._last_read = time.monotonic()
        latest = self._encoded()
        self._notify_read()
        return latest

    def wait_next(self, after_seq: int, timeout: float) -> tuple[int, bytes] | None:
        """Block until a frame newer than `after_seq` exists (or `timeout` s); None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._last_read = time.monotonic()
        self._notify_read()
        with self._cond:
            self.viewers += 1
            try:
                while self._seq <= after_seq:
                    if self._closed:
                        return None
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
            finally:
                self.viewers -= 1
                self._last_read = time.monotonic()
        return self._encoded()

    def _notify_read(self) -> None:
        callback = self.on_read
        if callback is not None:
            callback()

    def _cached_locked(self) -> tuple[int, bytes] | None:
        if self._jpeg is not None and self._jpeg_seq == self._seq:
            return self._jpeg_seq, self._jpeg
        return None

    def _encoded(self) -> tuple[int, bytes] | None:
        """(seq, JPEG) of the newest frame, encoding it if no reader did yet."""
        with self._cond:
            if self._frame is None:
                return None
            cached = self._cached_locked()
        if cached is not None:
            return cached
        with self._encode_lock:
            with self._cond:  # another reader may have encoded it while we waited
                cached = self._cached_locked()
                frame, seq, options = self._frame, self._seq, self._options
                quality, max_width = self.quality, self.max_width
            if cached is not None or frame is None:
                return cached
            jpeg = _encode(frame, quality, max_width)  # write() is free meanwhile
            with self._cond:
                if jpeg is None:  # cannot happen for a valid uint8 BGR frame: the last one
                    return (self._jpeg_seq, self._jpeg) if self._jpeg is not None else None
                if options == self._options and seq >= self._jpeg_seq:
                    self._jpeg, self._jpeg_seq = jpeg, seq
                self._encodes += 1
            return seq, jpeg

    def close(self) -> None:
        """End the waits of open previews (the buffer still takes and serves frames)."""
        self._closed = True
        with self._cond:
            self._cond.notify_all()


def _encode(frame: BGRFrame, quality: int, max_width: int) -> bytes | None:
    if max_width and frame.shape[1] > max_width:
        height = max(1, round(frame.shape[0] * max_width / frame.shape[1]))
        small = cv2.resize(frame, (max_width, height), interpolation=cv2.INTER_AREA)
        frame = np.asarray(small, dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(buf).tobytes() if ok else None
