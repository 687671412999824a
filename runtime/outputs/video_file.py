"""`file://out.mp4`: the processed video written to a file, appearing only once complete.

Frames go to a temporary file beside the target, renamed over it on close, so a crash or a
full disk never leaves a half-written file under the real name.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from core.atomic import PendingFile
from core.errors import UserError
from runtime.outputs.base import BGRFrame, FrameOutput

CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoFileOutput(FrameOutput):
    def __init__(self, path: str, width: int, height: int, fps: float, uri: str = "") -> None:
        self.uri = uri or f"file://{path}"
        self.path = Path(path).expanduser()
        suffix = self.path.suffix.lower()
        if suffix not in CODECS:
            raise UserError(
                f"Output file {self.path} has an unsupported extension; use one of {', '.join(CODECS)}."
            )
        if not self.path.parent.is_dir():
            raise UserError(f"Output folder {self.path.parent} does not exist; create it first.")
        self.size = (width, height)
        self.fps = fps
        cannot = UserError(
            f"Output file {self.path} cannot be written; check the folder's permissions and free space."
        )
        try:  # the temporary file keeps the suffix: OpenCV picks the container by it
            self._file = PendingFile(self.path, suffix=f".partial{suffix}")
        except OSError:
            raise cannot from None
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self._file.tmp), cv2.VideoWriter.fourcc(*CODECS[suffix]), fps, self.size
        )
        if not self._writer.isOpened():
            self._file.discard()
            raise cannot
        self.frames = 0

    @property
    def description(self) -> str:
        return f"video file {self.path} ({self.size[0]}x{self.size[1]} @ {self.fps:g} fps)"

    def write(self, frame: BGRFrame) -> None:
        if self._writer is None:
            raise OSError(f"output file {self.path} is closed")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            if self.frames:
                self._file.publish()
        finally:
            self._file.discard()
