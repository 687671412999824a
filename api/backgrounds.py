"""The background library: built-in pictures, uploaded images and short videos.

An upload is never trusted: its type comes from its first bytes (not its name or content
type), image dimensions are read from the header and checked against a pixel limit *before*
decoding (decompression bombs), the content is decoded completely with OpenCV and re-encoded,
and the result is stored under a generated id. The client's file name is only a display label.
Videos are only handed to FFmpeg when they start like an MP4/MOV, WebM/Matroska or AVI file, so
a playlist or other text that FFmpeg would follow to other files or URLs is never opened.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from api.boundary import LIBRARY_ID
from api.errors import Busy, Conflict, NotFound, NotSaved, PanelError, TooLarge, UnsupportedMedia
from api.state import write_atomic
from runtime.images import image_header

log = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]
Kind = Literal["image", "video"]

ID_PATTERN = LIBRARY_ID
THUMB_SIZE = (192, 108)
STORED_MAX_SIDE = 2560  # images are scaled down to this; backgrounds are scaled to cover anyway
VIDEO_MAX_WIDTH = 1280
VIDEO_FPS_CAP = 30.0
SUPPORTED = "a JPEG, PNG, WebP or BMP image, or an MP4, MOV, WebM or AVI video"


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000  # image width x height before decoding
    max_video_pixels: int = 3840 * 2160
    max_video_seconds: float = 30.0


class Background(BaseModel):
    """One library entry, as listed by the API."""

    id: str
    name: str
    kind: Kind
    builtin: bool
    width: int
    height: int
    duration_s: float | None = None
    created: float


# --------------------------------------------------------------------------- sniffing


_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "bmp": "BMP"}


def _image_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header of an image, checking it is complete."""
    header = image_header(data)
    if header is None:
        raise UnsupportedMedia(f"The file is not {SUPPORTED}; upload one of those.")
    name = _NAMES[header.format]
    if header.width <= 0 or header.height <= 0:
        raise PanelError(f"The {name} file is damaged (no image header); upload a complete file.")
    if not header.complete:
        raise PanelError(f"The {name} file is cut off; upload the complete file.")
    return header.format, header.width, header.height


def _video_suffix(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return ".mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return ".avi"
    return None


# --------------------------------------------------------------------------- pictures


def cover(image: BGRImage, size: tuple[int, int]) -> BGRImage:
    """Scale `image` to cover `size` (width, height) and crop the centre."""
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    scaled_w = max(width, round(image.shape[1] * scale))
    scaled_h = max(height, round(image.shape[0] * scale))
    resized = cv2.resize(image, (scaled_w, scaled_h), interpolation=cv2.INTER_AREA)
    x, y = (scaled_w - width) // 2, (scaled_h - height) // 2
    return np.ascontiguousarray(resized[y : y + height, x : x + width])


def _u8(array: npt.NDArray[Any]) -> BGRImage:
    return np.asarray(array, dtype=np.uint8)


def _fit(image: npt.NDArray[Any], max_side: int) -> BGRImage:
    longest = max(image.shape[:2])
    if longest <= max_side:
        return _u8(image)
    scale = max_side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return _u8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def _jpeg(image: BGRImage, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PanelError("The picture could not be re-encoded; try another file.")
    return np.asarray(buf).tobytes()


def _builtin_pictures(width: int = 1280, height: int = 720) -> dict[str, tuple[str, BGRImage]]:
    """Backgrounds drawn by code, so the project ships no binary pictures."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / (width - 1), yy / (height - 1)

    def blend(a: tuple[int, int, int], b: tuple[int, int, int], t: np.ndarray) -> BGRImage:
        ca, cb = np.array(a, np.float32), np.array(b, np.float32)
        return (ca + (cb - ca) * t[..., None]).clip(0, 255).astype(np.uint8)

    # A photo studio backdrop: light centre fading to a blue-grey edge.
    radius = np.sqrt((u - 0.5) ** 2 + (v - 0.4) ** 2) / 0.75
    studio = blend((200, 196, 190), (110, 96, 84), np.clip(radius, 0, 1))

    # A sunset: warm horizon, purple sky, a soft sun.
    sunset = blend((60, 150, 250), (120, 40, 70), np.clip(1.0 - v * 1.2, 0, 1) ** 1.5)
    cv2.circle(sunset, (int(width * 0.7), int(height * 0.62)), height // 8, (150, 220, 255), -1)
    sunset = _u8(cv2.GaussianBlur(sunset, (0, 0), 6))

    # Bokeh: out-of-focus lights on a dark blue wall (fixed seed: same picture every time).
    rng = np.random.default_rng(7)
    bokeh = blend((70, 40, 20), (40, 20, 10), v)
    lights = np.zeros_like(bokeh)
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(int(c) for c in rng.integers(90, 256, 3))
        cv2.circle(lights, centre, int(rng.integers(15, 60)), colour, -1, cv2.LINE_AA)
    bokeh = _u8(cv2.add(bokeh, cv2.GaussianBlur(lights, (0, 0), 9) // 2))

    # A green wall with soft vertical panels.
    panels = 0.5 + 0.5 * np.cos(u * np.pi * 12)
    forest = blend((60, 110, 50), (90, 150, 80), panels * 0.5 + v * 0.5)

    return {
        "builtin-studio": ("Studio", studio),
        "builtin-sunset": ("Sunset", sunset),
        "builtin-bokeh": ("Bokeh lights", bokeh),
        "builtin-green": ("Green wall", forest),
    }


def _label(filename: str | None) -> str:
    """A display name from the client's file name (never used as a path)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    clean = re.sub(r"[^\w .()-]+", "", stem).strip(" .")[:60]
    return clean or "Upload"


# --------------------------------------------------------------------------- library


class BackgroundLibrary:
    """Backgrounds stored in one directory as <id>.jpg|.mp4, <id>.thumb.jpg and <id>.json."""

    def __init__(self, directory: Path, limits: UploadLimits | None = None) -> None:
        self.directory = directory
        self.limits = limits or UploadLimits()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Decoding and re-encoding is CPU work next to the live pipeline: one upload at a time.
        self._upload_slot = threading.Semaphore(1)
        self._remove_leftovers()

    # ---- queries

    def list(self) -> list[Background]:
        entries = []
        for meta in sorted(self.directory.glob("*.json")):
            if not ID_PATTERN.match(meta.stem):
                continue
            try:
                entries.append(Background.model_validate_json(meta.read_bytes()))
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable background entry %s: %s", meta.name, exc)
        entries.sort(key=lambda e: (not e.builtin, e.created, e.id))
        return entries

    def get(self, background_id: str) -> Background:
        if not ID_PATTERN.match(background_id):
            raise NotFound(f"There is no background {background_id!r}; pick one from the list.")
        meta = self.directory / f"{background_id}.json"
        try:
            return Background.model_validate_json(meta.read_bytes())
        except (OSError, ValueError):
            raise NotFound(
                f"There is no background {background_id!r}; pick one from the list."
            ) from None

    def media_path(self, background_id: str) -> Path:
        entry = self.get(background_id)
        return self.directory / f"{entry.id}{'.mp4' if entry.kind == 'video' else '.jpg'}"

    def thumbnail_path(self, background_id: str) -> Path:
        return self.directory / f"{self.get(background_id).id}.thumb.jpg"

    def is_id(self, value: str | None) -> bool:
        return bool(value) and ID_PATTERN.match(value or "") is not None

    # ---- changes

    def ensure_builtins(self) -> None:
        """Draw the built-in backgrounds that are missing (first start, or after a wipe)."""
        missing = [
            bid
            for bid in _builtin_pictures(16, 16)
            if not (self.directory / f"{bid}.json").exists()
        ]
        if not missing:
            return
        for bid, (name, picture) in _builtin_pictures().items():
            if bid in missing:
                self._store_image(bid, name, picture, builtin=True)
        log.info("created built-in backgrounds: %s", ", ".join(missing))

    def add(self, data: bytes, filename: str | None) -> Background:
        """Check, decode, re-encode and store an upload; raises PanelError with the reason."""
        if not data:
            raise PanelError("The uploaded file is empty; choose a picture or a short video.")
        if len(data) > self.limits.max_bytes:
            raise TooLarge(self.too_large_message(len(data)))
        if not self._upload_slot.acquire(blocking=False):
            raise Busy("Another upload is being processed; try again in a few seconds.")
        background_id = f"u-{secrets.token_hex(6)}"
        try:
            suffix = _video_suffix(data)
            if suffix is not None:
                return self._add_video(background_id, _label(filename), data, suffix)
            return self._add_image(background_id, _label(filename), data)
        except OSError as exc:
            for leftover in self.directory.glob(f"{background_id}.*"):
                leftover.unlink(missing_ok=True)
            raise NotSaved(
                f"The upload could not be stored in {self.directory} ({exc.strerror}); "
                "free some space there and try again."
            ) from None
        finally:
            self._upload_slot.release()

    def delete(self, background_id: str) -> None:
        entry = self.get(background_id)
        if entry.builtin:
            raise Conflict(f"{entry.name!r} is a built-in background and cannot be deleted.")
        with self._lock:
            # Metadata first: once it is gone the entry no longer exists for readers.
            for suffix in (".json", ".jpg", ".mp4", ".thumb.jpg"):
                (self.directory / f"{entry.id}{suffix}").unlink(missing_ok=True)

    def too_large_message(self, size: int) -> str:
        limit_mb = self.limits.max_bytes / 2**20
        return (
            f"The file is too large ({size / 2**20:.1f} MB); the limit is {limit_mb:g} MB, "
            "so upload a smaller picture or a shorter video."
        )

    def _add_image(self, background_id: str, name: str, data: bytes) -> Background:
        _fmt, width, height = _image_header(data)
        if width <= 0 or height <= 0:
            raise PanelError("The image header gives no size; upload a complete picture.")
        if width * height > self.limits.max_pixels:
            raise TooLarge(
                f"The image is {width}x{height} pixels, more than the limit of "
                f"{self.limits.max_pixels / 1e6:g} megapixels; upload a smaller picture."
            )
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.shape[:2] != (height, width):
            raise PanelError("The image could not be decoded (damaged file); upload another one.")
        return self._store_image(background_id, name, _fit(image, STORED_MAX_SIDE), builtin=False)

    def _store_image(
        self, background_id: str, name: str, image: BGRImage, builtin: bool
    ) -> Background:
        entry = Background(
            id=background_id,
            name=name,
            kind="image",
            builtin=builtin,
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            created=time.time(),
        )
        with self._lock:
            write_atomic(self.directory / f"{background_id}.jpg", _jpeg(image))
            write_atomic(
                self.directory / f"{background_id}.thumb.jpg", _jpeg(cover(image, THUMB_SIZE), 85)
            )
            write_atomic(self.directory / f"{background_id}.json", entry.model_dump_json().encode())
        return entry

    def _add_video(self, background_id: str, name: str, data: bytes, suffix: str) -> Background:
        upload = self.directory / f".upload-{background_id}{suffix}"
        encoded = self.directory / f".encode-{background_id}.mp4"
        try:
            upload.write_bytes(data)
            first, fps, count, size = self._reencode_video(upload, encoded)
            entry = Background(
                id=background_id,
                name=name,
                kind="video",
                builtin=False,
                width=size[0],
                height=size[1],
                duration_s=round(count / fps, 2),
                created=time.time(),
            )
            with self._lock:
                os.replace(encoded, self.directory / f"{background_id}.mp4")
                write_atomic(
                    self.directory / f"{background_id}.thumb.jpg",
                    _jpeg(cover(first, THUMB_SIZE), 85),
                )
                write_atomic(
                    self.directory / f"{background_id}.json", entry.model_dump_json().encode()
                )
            return entry
        finally:
            upload.unlink(missing_ok=True)
            encoded.unlink(missing_ok=True)

    def _reencode_video(
        self, source: Path, target: Path
    ) -> tuple[BGRImage, float, int, tuple[int, int]]:
        """Decode every frame and write them again as MP4; returns (first frame, fps, frames, size)."""
        limits = self.limits
        capture = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG)
        writer: cv2.VideoWriter | None = None
        try:
            if not capture.isOpened():
                raise PanelError(
                    "The video could not be opened (damaged or unknown codec); upload another one."
                )
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if width * height > limits.max_video_pixels:
                raise TooLarge(
                    f"The video is {width}x{height} pixels, more than the limit of "
                    f"{limits.max_video_pixels / 1e6:g} megapixels; upload a smaller video."
                )
            fps = capture.get(cv2.CAP_PROP_FPS)
            fps = fps if 1.0 <= fps <= 240.0 else 25.0
            declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if declared > 0 and declared / fps > limits.max_video_seconds + 0.5:
                raise self._too_long(declared / fps)
            step = max(1, round(fps / VIDEO_FPS_CAP))  # keep at most ~30 fps
            first: BGRImage | None = None
            frames = written = 0
            out_size = (0, 0)
            while True:
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                frames += 1
                if frames / fps > limits.max_video_seconds + 0.5:
                    raise self._too_long(frames / fps)
                if (frames - 1) % step:
                    continue
                frame = _fit(frame, VIDEO_MAX_WIDTH)
                if writer is None:
                    first = frame
                    out_size = (int(frame.shape[1]) // 2 * 2, int(frame.shape[0]) // 2 * 2)
                    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
                    writer = cv2.VideoWriter(str(target), fourcc, fps / step, out_size)
                    if not writer.isOpened():
                        raise PanelError("The video could not be re-encoded; try another file.")
                if (frame.shape[1], frame.shape[0]) != out_size:
                    frame = cv2.resize(frame, out_size, interpolation=cv2.INTER_AREA)
                writer.write(frame)
                written += 1
            if first is None or written == 0:
                raise PanelError("The video has no frames that can be decoded; upload another one.")
            return first, fps / step, written, out_size
        finally:
            capture.release()
            if writer is not None:
                writer.release()

    def _too_long(self, seconds: float) -> TooLarge:
        return TooLarge(
            f"The video is longer than {self.limits.max_video_seconds:g} s ({seconds:.0f} s or more); "
            "upload a shorter clip."
        )

    def _remove_leftovers(self) -> None:
        """Temporary files of an upload interrupted by a crash or power cut."""
        for leftover in self.directory.glob(".*"):
            if leftover.is_file() and (
                leftover.name.startswith((".upload-", ".encode-")) or leftover.suffix == ".tmp"
            ):
                leftover.unlink(missing_ok=True)
