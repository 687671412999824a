"""What an upload is, from its first bytes: its type never comes from its name or content type.

Image dimensions are read from the header so a pixel limit is checked *before* decoding
(decompression bombs). Videos are only handed to FFmpeg when they start like an MP4/MOV,
WebM/Matroska or AVI file, so a playlist or other text that FFmpeg would follow to other files
or URLs is never opened.
"""

from __future__ import annotations

from api.errors import PanelError, UnsupportedMedia
from runtime.images import image_header

SUPPORTED = "a JPEG, PNG, WebP or BMP image, or an MP4, MOV, WebM or AVI video"
_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "bmp": "BMP"}


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header of an image, checking it is complete."""
    header = image_header(data)
    if header is None:
        raise UnsupportedMedia(f"The file is not {SUPPORTED}; upload one of those.")
    name = _NAMES[header.format]
    if header.width <= 0 or header.height <= 0:
        raise PanelError(f"The {name} file is damaged (no image header); upload a complete file.")
    if not header.complete:
        raise PanelError(f"The {name} file is cut off; upload the complete file.")
    return header.width, header.height


def video_suffix(data: bytes) -> str | None:
    """The container's file suffix when `data` starts like a video FFmpeg may open, else None."""
    if data[4:8] == b"ftyp":
        return ".mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return ".avi"
    return None
