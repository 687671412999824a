"""`v4l2:///dev/video0` (or `/dev/video0`): a USB camera through OpenCV's V4L2 backend.

Asks for width x height at fps in the chosen format (`?format=MJPG|YUYV|auto`; auto asks for
MJPG, which USB 2 cameras need for 720p30 and above, and falls back to YUYV) and reports what
the camera actually granted, since cameras silently pick their nearest mode.
"""

from __future__ import annotations

import os
import stat

import cv2

from runtime.sources.base import CaptureSource, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri

FORMATS = ("MJPG", "YUYV")


def fourcc_code(name: str) -> int:
    return int(cv2.VideoWriter.fourcc(*name))


def fourcc_name(code: float) -> str:
    value = int(code)
    return "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ") or "?"


class V4l2Source(CaptureSource):
    stopped = "stopped delivering frames (unplugged?)."

    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        self.device = uri.location
        self.width, self.height, self.fps = width, height, fps
        wanted = uri.options.get("format", "auto").upper()
        if wanted not in (*FORMATS, "AUTO"):
            raise SourceUnavailable(
                f"Camera format {wanted!r} in {uri.raw!r} is not supported; use format=MJPG, format=YUYV or leave it out."
            )
        self.formats = FORMATS if wanted == "AUTO" else (wanted,)

    @property
    def label(self) -> str:
        return f"Camera {self.device}"

    def open(self) -> SourceInfo:
        if not os.path.exists(self.device):
            raise SourceUnavailable(
                f"Camera {self.device} does not exist; plug the camera in (list cameras with `v4l2-ctl --list-devices`)."
            )
        if not stat.S_ISCHR(os.stat(self.device).st_mode):
            raise SourceUnavailable(
                f"{self.device} is not a video device; give a camera such as /dev/video0."
            )
        if not os.access(self.device, os.R_OK | os.W_OK):
            raise SourceUnavailable(
                f"No permission to open camera {self.device}; add the service user to the video group (sudo usermod -aG video USER)."
            )
        last = ""
        for fmt in self.formats:
            cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
            if not cap.isOpened():
                cap.release()
                raise SourceUnavailable(
                    f"Camera {self.device} could not be opened (busy in another program, or not a capture device); close other camera apps and check `v4l2-ctl --list-devices`."
                )
            # The order matters for many UVC drivers: format first, then size, then rate.
            cap.set(cv2.CAP_PROP_FOURCC, fourcc_code(fmt))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a driver queue
            granted = fourcc_name(cap.get(cv2.CAP_PROP_FOURCC))
            if granted != fmt and fmt != self.formats[-1]:
                last = granted
                cap.release()
                continue
            ok, frame = cap.read()
            if not ok or frame is None:
                cap.release()
                raise SourceUnavailable(
                    f"Camera {self.device} opened but delivered no frame; replug it or try format=YUYV."
                )
            self._cap = cap
            return SourceInfo(
                kind="v4l2",
                description=f"V4L2 camera {self.device}",
                width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or frame.shape[1],
                height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or frame.shape[0],
                fps=float(cap.get(cv2.CAP_PROP_FPS)) or self.fps,
                pixel_format=granted or last,
            )
        raise SourceUnavailable(f"Camera {self.device} offers none of {', '.join(self.formats)}.")

    def skip(self) -> None:
        # grab() dequeues the frame; only retrieve() would decode it (MJPG) and convert it.
        if not self._capture().grab():
            raise SourceUnavailable(f"{self.label} {self.stopped}")
