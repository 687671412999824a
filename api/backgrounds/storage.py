"""The library's directory: one entry is <id>.jpg or <id>.mp4, <id>.thumb.jpg and <id>.json.

The metadata file is written last and removed first, so an entry exists for readers exactly
while its metadata does; every file is written atomically. Any file here may be damaged: an
unreadable entry is skipped with a warning, never an error for the whole list.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel

from api.boundary import LIBRARY_ID
from api.errors import NotFound, PanelError
from core.arrays import U8
from core.atomic import TEMP_SUFFIX, PendingFile, write_atomic
from runtime.images import scale_to_cover

log = logging.getLogger(__name__)

Kind = Literal["image", "video"]
THUMB_SIZE = (192, 108)  # width, height
UPLOAD_PREFIXES = (".upload-", ".encode-")  # a video upload as received (.encode-: before)


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


def encode_jpeg(image: U8, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PanelError("The picture could not be re-encoded; try another file.")
    return np.asarray(buf).tobytes()


def _thumbnail(image: U8) -> bytes:
    width, height = THUMB_SIZE
    return encode_jpeg(scale_to_cover(image, height, width), 85)


class BackgroundStore:
    """Entries in one directory: listing, lookup, and the atomic writes of a new entry."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._remove_leftovers()

    # ---- queries

    def list(self) -> list[Background]:
        entries = []
        for meta in sorted(self.directory.glob("*.json")):
            if not LIBRARY_ID.match(meta.stem):
                continue
            try:
                entries.append(Background.model_validate_json(meta.read_bytes()))
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable background entry %s: %s", meta.name, exc)
        entries.sort(key=lambda e: (not e.builtin, e.created, e.id))
        return entries

    def get(self, background_id: str) -> Background:
        if not LIBRARY_ID.match(background_id):
            raise NotFound(f"There is no background {background_id!r}; pick one from the list.")
        meta = self.directory / f"{background_id}.json"
        try:
            return Background.model_validate_json(meta.read_bytes())
        except (OSError, ValueError):
            raise NotFound(
                f"There is no background {background_id!r}; pick one from the list."
            ) from None

    def exists(self, background_id: str) -> bool:
        return (self.directory / f"{background_id}.json").exists()

    def media_path(self, background_id: str) -> Path:
        entry = self.get(background_id)
        return self.directory / f"{entry.id}{'.mp4' if entry.kind == 'video' else '.jpg'}"

    def thumbnail_path(self, background_id: str) -> Path:
        return self.directory / f"{self.get(background_id).id}.thumb.jpg"

    def is_id(self, value: str | None) -> bool:
        return bool(value) and LIBRARY_ID.match(value or "") is not None

    # ---- changes

    def store_image(self, background_id: str, name: str, image: U8, builtin: bool) -> Background:
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
            write_atomic(self.directory / f"{background_id}.jpg", encode_jpeg(image))
            write_atomic(self.directory / f"{background_id}.thumb.jpg", _thumbnail(image))
            write_atomic(self.directory / f"{background_id}.json", entry.model_dump_json().encode())
        return entry

    def store_video(self, entry: Background, encoded: PendingFile, first_frame: U8) -> None:
        """Publish the re-encoded video `encoded` (pending as <id>.mp4), then its entry."""
        with self._lock:
            encoded.publish()
            write_atomic(self.directory / f"{entry.id}.thumb.jpg", _thumbnail(first_frame))
            write_atomic(self.directory / f"{entry.id}.json", entry.model_dump_json().encode())

    def discard(self, background_id: str) -> None:
        """Whatever a failed upload of `background_id` left behind."""
        for leftover in self.directory.glob(f"{background_id}.*"):
            leftover.unlink(missing_ok=True)

    def remove(self, entry: Background) -> None:
        with self._lock:
            # Metadata first: once it is gone the entry no longer exists for readers.
            for suffix in (".json", ".jpg", ".mp4", ".thumb.jpg"):
                (self.directory / f"{entry.id}{suffix}").unlink(missing_ok=True)

    def _remove_leftovers(self) -> None:
        """Temporary files of an upload or write interrupted by a crash or power cut."""
        for leftover in self.directory.glob(".*"):
            # .tmp and .encode-: the temporary files of earlier versions.
            if leftover.is_file() and (
                leftover.name.startswith(UPLOAD_PREFIXES)
                or {TEMP_SUFFIX, ".tmp"} & set(leftover.suffixes)
            ):
                leftover.unlink(missing_ok=True)
