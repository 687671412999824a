"""Frame sources: `open_source(uri, ...)` picks the module for the URI's scheme."""

from __future__ import annotations

from runtime.sources.base import BGRFrame, FrameSource, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri, parse_source_uri

__all__ = [
    "BGRFrame",
    "FrameSource",
    "MediaUri",
    "SourceInfo",
    "SourceUnavailable",
    "open_source",
    "parse_source_uri",
]


def open_source(uri: str, width: int, height: int, fps: float) -> FrameSource:
    """A source for `uri`, asking for width x height at fps (call `.open()` to start it)."""
    parsed = parse_source_uri(uri)
    if parsed.scheme == "v4l2":
        from runtime.sources.v4l2 import V4l2Source

        return V4l2Source(parsed, width, height, fps)
    if parsed.scheme == "csi":
        from runtime.sources.csi import CsiSource

        return CsiSource(parsed, width, height, fps)
    if parsed.scheme == "rtsp":
        from runtime.sources.rtsp import RtspSource

        return RtspSource(parsed, width, height, fps)
    if parsed.scheme == "file":
        from runtime.sources.video_file import VideoFileSource

        return VideoFileSource(parsed, width, height, fps)
    if parsed.scheme == "image":
        from runtime.sources.image import ImageSource

        return ImageSource(parsed, width, height, fps)
    from runtime.sources.demo import DemoSource

    return DemoSource(parsed, width, height, fps)
