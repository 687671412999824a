"""`rtsp://host/path`: a network camera through OpenCV's FFmpeg backend, with timeouts.

`?transport=tcp|udp|udp_multicast|http|https` picks the RTSP lower transport per source.
OpenCV passes FFmpeg options only through the process-wide OPENCV_FFMPEG_CAPTURE_OPTIONS
variable, read when a capture opens (cap_ffmpeg_impl.hpp: getenv in CvCapture_FFMPEG::open;
the open() params have no such option), and current FFmpeg no longer takes the transport from
the URL (the old `rtsp://...?tcp` suffix was dropped from rtsp.c). So the variable is set just
around each open, under a lock, and restored after: each source gets its own transport.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator

import cv2

from core.errors import UserError
from runtime.sources.base import CaptureSource, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri

TIMEOUT_MS = 5000
TRANSPORTS = ("tcp", "udp", "udp_multicast", "http", "https")  # FFmpeg's rtsp_transport values
OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_OPEN_LOCK = threading.Lock()  # one open at a time may own the process-wide variable


@contextlib.contextmanager
def ffmpeg_capture_options(options: str) -> Iterator[None]:
    """OPENCV_FFMPEG_CAPTURE_OPTIONS with `options` appended (FFmpeg keeps the last value of a
    key, so they win over an operator's own) while the block opens a capture."""
    with _OPEN_LOCK:
        before = os.environ.get(OPTIONS_ENV)
        os.environ[OPTIONS_ENV] = f"{before}|{options}" if before else options
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(OPTIONS_ENV, None)
            else:
                os.environ[OPTIONS_ENV] = before


def redact(url: str) -> str:
    """The URL without its password, for logs and the status page."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


class RtspSource(CaptureSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.url = uri.location
        self.transport = uri.options.get("transport", "tcp")  # TCP: no smeared frames on loss
        if self.transport not in TRANSPORTS:
            raise UserError(
                f"RTSP transport {self.transport!r} in the source is not one of "
                f"{', '.join(TRANSPORTS)}; use e.g. transport=tcp."
            )
        self.fps = fps

    @property
    def label(self) -> str:
        return f"Stream {redact(self.url)}"

    def open(self) -> SourceInfo:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            TIMEOUT_MS,
        ]
        with ffmpeg_capture_options(f"rtsp_transport;{self.transport}"):
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
