"""Loading, validating and writing still images: every frame the runtime sees is BGR uint8.

Grayscale, RGBA and 16-bit pictures are converted rather than refused; unreadable, empty or
absurdly large ones raise a UserError naming the file and the fix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from convert.errors import UserError

U8 = npt.NDArray[np.uint8]
# 100 megapixels: far beyond any camera frame; bigger pictures are refused, not half-processed.
MAX_PIXELS = 100_000_000


def to_bgr8(image: np.ndarray, name: str = "image") -> U8:
    """Convert a decoded picture (gray, BGR, BGRA; 8/16-bit or float 0..1) to BGR uint8."""
    if image.size == 0 or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise UserError(f"{name} has no pixels (shape {image.shape}): give a non-empty picture.")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        h, w = image.shape[:2]
        raise UserError(
            f"{name} is {w}x{h}, larger than {MAX_PIXELS // 1_000_000} megapixels: scale it down first."
        )
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encoded.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
