"""Source and output URIs: one parser, clear errors."""

from __future__ import annotations

import pytest

from core.errors import UserError
from runtime.sources.uri import parse_output_uri, parse_source_uri


@pytest.mark.parametrize(
    ("uri", "scheme", "location"),
    [
        ("v4l2:///dev/video0", "v4l2", "/dev/video0"),
        ("/dev/video2", "v4l2", "/dev/video2"),
        ("csi://1", "csi", "1"),
        ("csi://", "csi", "0"),
        ("rtsp://user:pw@cam.local:554/stream1", "rtsp", "rtsp://user:pw@cam.local:554/stream1"),
        ("file://clip.mp4", "file", "clip.mp4"),
        ("file:///abs/clip.mp4", "file", "/abs/clip.mp4"),
        ("clip.mkv", "file", "clip.mkv"),
        ("image://photo.jpg", "image", "photo.jpg"),
        ("photo.PNG", "image", "photo.PNG"),
        ("demo://", "demo", ""),
    ],
)
def test_source_uris(uri: str, scheme: str, location: str) -> None:
    parsed = parse_source_uri(uri)
    assert (parsed.scheme, parsed.location) == (scheme, location)


def test_source_options() -> None:
    parsed = parse_source_uri("file://clip.mp4?loop=0&fps=12.5")
    assert parsed.location == "clip.mp4"
    assert parsed.flag("loop", True) is False
    assert parsed.number("fps", 0) == 12.5
    with pytest.raises(UserError, match="not a yes/no value"):
        parse_source_uri("file://clip.mp4?loop=maybe").flag("loop", True)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://cam/video", "unknown scheme 'http'"),
        ("", "empty"),
        ("file://", "names no path"),
    ],
)
def test_bad_source_uris(uri: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_source_uri(uri)


@pytest.mark.parametrize(
    ("uri", "scheme", "location"),
    [
        ("v4l2loopback:///dev/video10", "v4l2loopback", "/dev/video10"),
        ("/dev/video10", "v4l2loopback", "/dev/video10"),
        ("mjpeg://", "mjpeg", ""),
        ("mjpeg://?quality=60&width=640", "mjpeg", ""),
        ("file://out.mp4", "file", "out.mp4"),
        ("out.avi", "file", "out.avi"),
    ],
)
def test_output_uris(uri: str, scheme: str, location: str) -> None:
    parsed = parse_output_uri(uri)
    assert (parsed.scheme, parsed.location) == (scheme, location)


def test_bad_output_uri() -> None:
    with pytest.raises(UserError, match="unknown scheme 'rtmp'"):
        parse_output_uri("rtmp://server/live")


def test_output_file_needs_a_video_extension() -> None:
    with pytest.raises(
        UserError, match=r"'notes.txt' has an unsupported extension; use one of .mp4"
    ):
        parse_output_uri("file://notes.txt")
