"""Uploads into the background library: checked, decoded, re-encoded and stored.

An upload is never trusted: its type comes from its first bytes (`sniffing`), image dimensions
are checked against a pixel limit *before* decoding (decompression bombs), the content is
decoded completely with OpenCV and re-encoded, and the result is stored under a generated id.
The client's file name is only a display label.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from api.backgrounds.builtin import BUILTIN, HEIGHT, WIDTH
from api.backgrounds.sniffing import image_size, video_suffix
from api.backgrounds.storage import Background, BackgroundStore
from api.errors import Busy, Conflict, NotSaved, PanelError, TooLarge
from core.arrays import U8
from core.atomic import TEMP_SUFFIX, PendingFile

log = logging.getLogger(__name__)

STORED_MAX_SIDE = 2560  # images are scaled down to this; backgrounds are scaled to cover anyway
VIDEO_MAX_WIDTH = 1280
VIDEO_FPS_CAP = 30.0


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000  # image width x height before decoding
    max_video_pixels: int = 3840 * 2160
    max_video_seconds: float = 30.0


def _fit(image: npt.NDArray[Any], max_side: int) -> U8:
    longest = max(image.shape[:2])
    if longest <= max_side:
        return np.asarray(image, dtype=np.uint8)
    scale = max_side / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _label(filename: str | None) -> str:
    """A display name from the client's file name (never used as a path)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    clean = re.sub(r"[^\w .()-]+", "", stem).strip(" .")[:60]
    return clean or "Upload"


class BackgroundLibrary(BackgroundStore):
    """The stored backgrounds, plus the built-in pictures and checked uploads."""

    def __init__(self, directory: Path, limits: UploadLimits | None = None) -> None:
        super().__init__(directory)
        self.limits = limits or UploadLimits()
        # Decoding and re-encoding is CPU work next to the live pipeline: one upload at a time.
        self._upload_slot = threading.Semaphore(1)

    def ensure_builtins(self) -> None:
        """Draw the built-in backgrounds that are missing (first start, or after a wipe)."""
        missing = [bid for bid in BUILTIN if not self.exists(bid)]
        for bid in missing:
            picture = BUILTIN[bid]
            self.store_image(bid, picture.name, picture.draw(WIDTH, HEIGHT), builtin=True)
        if missing:
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
            suffix = video_suffix(data)
            if suffix is not None:
                return self._add_video(background_id, _label(filename), data, suffix)
            return self._add_image(background_id, _label(filename), data)
        except OSError as exc:
            self.discard(background_id)
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
        self.remove(entry)

    def too_large_message(self, size: int) -> str:
        limit_mb = self.limits.max_bytes / 2**20
        return (
            f"The file is too large ({size / 2**20:.1f} MB); the limit is {limit_mb:g} MB, "
            "so upload a smaller picture or a shorter video."
        )

    def _add_image(self, background_id: str, name: str, data: bytes) -> Background:
        width, height = image_size(data)
        if width * height > self.limits.max_pixels:
            raise TooLarge(
                f"The image is {width}x{height} pixels, more than the limit of "
                f"{self.limits.max_pixels / 1e6:g} megapixels; upload a smaller picture."
            )
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.shape[:2] != (height, width):
            raise PanelError("The image could not be decoded (damaged file); upload another one.")
        return self.store_image(background_id, name, _fit(image, STORED_MAX_SIDE), builtin=False)

    def _add_video(self, background_id: str, name: str, data: bytes, suffix: str) -> Background:
        upload = self.directory / f".upload-{background_id}{suffix}"
        # OpenCV picks the container by the suffix; the store publishes it atomically.
        encoded = PendingFile(self.directory / f"{background_id}.mp4", suffix=f"{TEMP_SUFFIX}.mp4")
        try:
            upload.write_bytes(data)
            first, fps, count, size = self._reencode_video(upload, encoded.tmp)
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
            self.store_video(entry, encoded, first)
            return entry
        finally:
            upload.unlink(missing_ok=True)
            encoded.discard()

    def _reencode_video(self, source: Path, target: Path) -> tuple[U8, float, int, tuple[int, int]]:
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
            first: U8 | None = None
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
