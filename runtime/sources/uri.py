"""The one parser for source and output URIs (in the style of jetson-utils' videoSource).

`v4l2:///dev/video0`, `/dev/video0`, `csi://0`, `rtsp://host/path`, `file://clip.mp4`,
`image://photo.jpg`, `demo://`, `v4l2loopback:///dev/video10`, `mjpeg://`, `file://out.mp4`.
Options go in the query string: `file://clip.mp4?loop=0`, `v4l2:///dev/video0?format=YUYV`.
A bare path is a device (/dev/videoN), an image or a video file, guessed from its suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from core.errors import UserError

SOURCE_SCHEMES = ("v4l2", "csi", "rtsp", "rtsps", "file", "image", "demo")
OUTPUT_SCHEMES = ("v4l2loopback", "mjpeg", "file")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class MediaUri:
    scheme: str
    location: str  # device path, file path, host/path, camera index; "" for demo:// / mjpeg://
    options: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    def flag(self, name: str, default: bool) -> bool:
        value = self.options.get(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise UserError(
            f"Option {name}={value!r} in {self.raw!r} is not a yes/no value; use {name}=1 or {name}=0."
        )

    def number(self, name: str, default: float) -> float:
        value = self.options.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise UserError(
                f"Option {name}={value!r} in {self.raw!r} is not a number; give e.g. {name}={default:g}."
            ) from None


def _split(uri: str) -> tuple[str, str, dict[str, str]]:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    location, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    return scheme.lower(), unquote(location), options


def parse_source_uri(uri: str) -> MediaUri:
    """Parse a source URI; an unknown scheme names the supported ones."""
    text = uri.strip()
    if not text:
        raise UserError("The source is empty; give a camera such as /dev/video0, or demo://.")
    scheme, location, options = _split(text)
    if not scheme:
        if location.startswith("/dev/video"):
            scheme = "v4l2"
        elif Path(location).suffix.lower() in IMAGE_SUFFIXES:
            scheme = "image"
        else:
            scheme = "file"
    if scheme not in SOURCE_SCHEMES:
        raise UserError(
            f"Source {uri!r} has an unknown scheme {scheme!r}; use one of "
            + ", ".join(f"{s}://" for s in SOURCE_SCHEMES if s != "rtsps")
            + " or a /dev/videoN path."
        )
    if scheme in ("rtsp", "rtsps"):
        # The whole URL goes to FFmpeg: its query may mean something to the camera.
        scheme, location = "rtsp", text
    if scheme in ("file", "image", "v4l2") and not location:
        raise UserError(
            f"Source {uri!r} names no path; write e.g. {scheme}://{'/dev/video0' if scheme == 'v4l2' else 'clip.mp4'}."
        )
    if scheme == "csi" and not location:
        location = "0"
    return MediaUri(scheme, location, options, text)


def parse_output_uri(uri: str) -> MediaUri:
    """Parse an output URI; a bare /dev/videoN is a loopback device, another path a video file."""
    text = uri.strip()
    if not text:
        raise UserError(
            "An output is empty; give e.g. v4l2loopback:///dev/video10, mjpeg:// or file://out.mp4."
        )
    scheme, location, options = _split(text)
    if not scheme:
        scheme = "v4l2loopback" if location.startswith("/dev/video") else "file"
    if scheme == "v4l2":
        scheme = "v4l2loopback"
    if scheme not in OUTPUT_SCHEMES:
        raise UserError(
            f"Output {uri!r} has an unknown scheme {scheme!r}; use one of "
            + ", ".join(f"{s}://" for s in OUTPUT_SCHEMES)
            + "."
        )
    if scheme in ("file", "v4l2loopback") and not location:
        raise UserError(
            f"Output {uri!r} names no path; write e.g. {'v4l2loopback:///dev/video10' if scheme == 'v4l2loopback' else 'file://out.mp4'}."
        )
    if scheme == "file":
        from runtime.outputs.video_file import CODECS

        if Path(location).suffix.lower() not in CODECS:
            raise UserError(
                f"Output file {location!r} has an unsupported extension; use one of {', '.join(CODECS)}."
            )
    return MediaUri(scheme, location, options, text)
