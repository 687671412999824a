"""`file://clip.mp4`: a video file played at its own frame rate, looping by default.

Options: `loop=0` (end of file then counts as a lost camera), `pace=0` (as fast as read,
for benchmarks), `fps=N` (play at N instead of the file's rate).
"""

from __future__ import annotations

import os
from typing import Any

import cv2

from runtime.sources.base import BGRFrame, CaptureSource, Pacer, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri


class VideoFileSource(CaptureSource):
    stopped = "ended."

    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.path = os.path.expanduser(uri.location)
        self.loop = uri.flag("loop", True)
        self.pace = uri.flag("pace", True)
        self.fps_override = uri.number("fps", 0.0)
        self.default_fps = fps
        self._pacer = Pacer(0)

    @property
    def label(self) -> str:
        return f"Video file {self.path}"

    def open(self) -> SourceInfo:
        if not os.path.isfile(self.path):
            raise SourceUnavailable(
                f"Video file {self.path} does not exist; check the path in the source setting."
            )
        cap = cv2.VideoCapture(self.path)
        ok, _ = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise SourceUnavailable(
                f"Video file {self.path} cannot be decoded; convert it to H.264 MP4 (ffmpeg -i IN -c:v libx264 OUT.mp4)."
            )
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._cap = cap
        fps = self.fps_override or float(cap.get(cv2.CAP_PROP_FPS)) or self.default_fps
        self._pacer = Pacer(fps if self.pace else 0)
        return SourceInfo(
            kind="file",
            description=f"video file {os.path.basename(self.path)}"
            + (" (looping)" if self.loop else ""),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=fps,
            pixel_format="BGR",
        )

    def _next_frame(self, buffer: BGRFrame | None) -> tuple[bool, Any]:
        ok, frame = super()._next_frame(buffer)
        if not ok and self.loop:
            # Seeking back is unreliable for some containers; reopening always works.
            self._capture().release()
            self._cap = cv2.VideoCapture(self.path)
            ok, frame = super()._next_frame(buffer)
        return ok, frame

    def _read(self, buffer: BGRFrame | None) -> BGRFrame:
        frame = super()._read(buffer)
        self._pacer.wait()
        return frame
