"""Frame outputs: `open_output(uri, ...)` picks the module for the URI's scheme."""

from __future__ import annotations

from runtime.outputs.base import FrameOutput
from runtime.outputs.mjpeg import MjpegOutput

__all__ = ["FrameOutput", "MjpegOutput", "open_output"]


def open_output(uri: str, width: int, height: int, fps: float) -> FrameOutput:
    """Open the output for `uri` at width x height (frames written must have that size)."""
    from runtime.sources.uri import parse_output_uri

    parsed = parse_output_uri(uri)
    if parsed.scheme == "v4l2loopback":
        from runtime.outputs.v4l2loopback import V4l2LoopbackOutput

        return V4l2LoopbackOutput(parsed.location, width, height, fps, uri=uri)
    if parsed.scheme == "file":
        from runtime.outputs.video_file import VideoFileOutput

        return VideoFileOutput(parsed.location, width, height, fps, uri=uri)
    return MjpegOutput(
        uri, quality=int(parsed.number("quality", 80)), max_width=int(parsed.number("width", 0))
    )
