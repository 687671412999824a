"""`demo://`: the built-in moving real photo (runtime.demo.DemoClip), the default without a camera.

Options: `pace=0` delivers frames as fast as they are drawn (benchmarks, memory tests).
"""

from __future__ import annotations

from typing import Any

from runtime.sources.base import BGRFrame, FrameSource, Pacer, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri


class DemoSource(FrameSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.width, self.height, self.fps = width, height, fps
        self._pacer = Pacer(fps if uri.flag("pace", True) else 0)
        self._clip: Any = None
        self._index = 0

    def open(self) -> SourceInfo:
        from runtime.demo import DemoClip

        self._clip = DemoClip(self.width, self.height)
        self._index = 0
        return SourceInfo("demo", "demo clip", self.width, self.height, self.fps, "BGR")

    def read(self) -> BGRFrame:
        if self._clip is None:
            raise SourceUnavailable("The demo source is not open.")
        frame: BGRFrame = self._clip.frame(self._index)
        self._index += 1
        self._pacer.wait()
        return frame

    def skip(self) -> None:
        # A camera's grab(): the frame goes by at the camera's rate, nothing is drawn.
        if self._clip is None:
            raise SourceUnavailable("The demo source is not open.")
        self._index += 1
        self._pacer.wait()

    def close(self) -> None:
        self._clip = None
