"""Loading, validating and writing still images: every frame the runtime sees is BGR uint8.

Grayscale, RGBA and 16-bit pictures are converted rather than refused; unreadable, empty or
absurdly large ones raise a UserError naming the file and the fix.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.arrays import U8
from core.atomic import write_atomic
from core.errors import UserError

# 100 megapixels: far beyond any camera frame; bigger pictures are refused, not half-processed.
MAX_PIXELS = 100_000_000


def to_bgr8(image: np.ndarray, name: str = "image") -> U8:
    """Convert a decoded picture (gray, BGR, BGRA; 8/16-bit or float 0..1) to BGR uint8."""
    if image.size == 0 or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise UserError(f"{name} has no pixels (shape {image.shape}): give a non-empty picture.")
    _check_pixels(image.shape[1], image.shape[0], name)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # keep the top 8 bits: 65535 -> 255
    elif image.dtype.kind == "f":
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UserError(f"{name} has unsupported pixel type {image.dtype}: use 8- or 16-bit.")
    if image.ndim == 2 or image.shape[2] == 1:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    channels = image.shape[2]
    if channels == 4:
        # Alpha is dropped: the model sees colour only.
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    if channels != 3:
        raise UserError(f"{name} has {channels} channels: use a grayscale, RGB or RGBA picture.")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class ImageHeader:
    """What the first bytes of a picture say, read without decoding it."""

    format: str  # jpeg, png, webp, bmp
    width: int  # 0 when the header is damaged
    height: int
    complete: bool  # the end marker (or declared length) is there: not cut off


def image_header(data: bytes) -> ImageHeader | None:
    """The size a JPEG, PNG, WebP or BMP declares, from its header (so a decompression bomb is
    refused before decoding); None for other formats."""
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_header(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 33 or data[12:16] != b"IHDR":
            return ImageHeader("png", 0, 0, False)
        width, height = struct.unpack(">II", data[16:24])
        end = data.rfind(b"IEND")
        return ImageHeader("png", width, height, end >= 0 and end + 8 <= len(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_header(data)
    if data.startswith(b"BM") and len(data) >= 26:
        (declared,) = struct.unpack("<I", data[2:6])
        width, height = struct.unpack("<ii", data[18:26])
        return ImageHeader("bmp", abs(width), abs(height), declared <= len(data))
    return None


def _jpeg_header(data: bytes) -> ImageHeader:
    pos, size = 2, (0, 0)
    last_scan = -1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            pos += 1  # tolerate fill bytes between segments
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        is_sof = 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
        if is_sof and size == (0, 0) and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:
            last_scan = pos
            break  # entropy-coded data follows; the end marker is searched for below
        pos += 2 + length
    # Entropy-coded data byte-stuffs 0xFF, so FF D9 after the scan can only be the end marker.
    complete = last_scan >= 0 and data.rfind(b"\xff\xd9") >= last_scan
    return ImageHeader("jpeg", size[0], size[1], complete)


def _webp_header(data: bytes) -> ImageHeader:
    (riff_size,) = struct.unpack("<I", data[4:8])
    complete = riff_size + 8 <= len(data) and len(data) >= 30
    if len(data) < 30:
        return ImageHeader("webp", 0, 0, False)
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF, complete)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, complete)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height, complete)
    return ImageHeader("webp", 0, 0, complete)


def _check_pixels(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise UserError(
            f"{name} is {width}x{height}, larger than {MAX_PIXELS // 1_000_000} megapixels: scale it down first."
        )


def load_image(path: str | Path) -> U8:
    """Read a picture file as BGR uint8 (converting gray/RGBA/16-bit), or raise a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"Image {path} does not exist: check the path.")
    if not path.is_file():
        raise UserError(f"{path} is not a file: give the path of a picture.")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise UserError(f"Image {path} is empty (0 bytes): give a PNG or JPEG picture.")
    header = image_header(data.tobytes())
    if header is not None:  # refused before decoding: a small file can declare gigapixels
        _check_pixels(header.width, header.height, f"Image {path}")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UserError(
            f"{path} cannot be decoded as an image: give a PNG, JPEG, BMP, TIFF or WebP file."
        )
    return to_bgr8(image, name=f"Image {path}")


def scale_to_cover(image: U8, height: int, width: int) -> U8:
    """Scale keeping the aspect ratio so the image covers (h, w), then centre-crop: no distortion."""
    ih, iw = image.shape[:2]
    if (ih, iw) == (height, width):
        return image
    scale = max(height / ih, width / iw)
    sh, sw = max(height, round(ih * scale)), max(width, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (sw, sh), interpolation=interp)
    top, left = (sh - height) // 2, (sw - width) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Encode by the file's extension and write atomically (temp file + rename)."""
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise UserError(f"Cannot encode {path}: use a .png or .jpg output name.")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UserError(f"Output folder {directory} does not exist: create it first.")
    write_atomic(path, encoded.tobytes())
