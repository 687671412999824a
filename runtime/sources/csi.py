"""`csi://0`: a Jetson CSI camera through GStreamer's nvarguscamerasrc (needs OpenCV with GStreamer)."""

from __future__ import annotations

import cv2
import numpy as np

from convert.errors import UserError
from runtime.sources.base import BGRFrame, FrameSource, SourceInfo, SourceUnavailable
from runtime.sources.uri import MediaUri


def opencv_has_gstreamer() -> bool:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def csi_pipeline(sensor_id: int, width: int, height: int, fps: float, flip: int = 0) -> str:
    """The GStreamer pipeline: NVMM NV12 from the ISP, converted to BGR, newest buffer only."""
    rate = max(1, round(fps))
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={width},height={height},framerate={rate}/1,format=NV12 ! "
        f"nvvidconv flip-method={flip} ! video/x-raw,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"
    )


class CsiSource(FrameSource):
    def __init__(self, uri: MediaUri, width: int, height: int, fps: float) -> None:
        super().__init__(uri.raw)
        try:
            self.sensor_id = int(uri.location)
        except ValueError:
            raise UserError(
                f"CSI camera {uri.raw!r} needs a sensor number, e.g. csi://0."
            ) from None
        self.flip = int(uri.number("flip", 0))
        self.width, self.height, self.fps = width, height, fps
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> SourceInfo:
        if not opencv_has_gstreamer():
            raise UserError(
                f"{self.uri} needs OpenCV built with GStreamer, and this one has none; on a Jetson use JetPack's python3-opencv (create the venv with --system-site-packages), or use a v4l2:// camera."
            )
        pipeline = csi_pipeline(self.sensor_id, self.width, self.height, self.fps, self.flip)
        cap = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(
                f"CSI camera {self.sensor_id} could not be opened; check the ribbon cable and that nvargus-daemon runs (sudo systemctl restart nvargus-daemon)."
            )
        self._cap = cap
        return SourceInfo(
            "csi", f"CSI camera {self.sensor_id}", self.width, self.height, self.fps, "NV12"
        )

    def read(self) -> BGRFrame:
        return self._read(None)

    def read_into(self, buffer: BGRFrame) -> BGRFrame:
        # OpenCV decodes into `buffer` when size and type match, else returns a new array.
        return self._read(buffer)

    def _read(self, buffer: BGRFrame | None) -> BGRFrame:
        if self._cap is None:
            raise SourceUnavailable(f"CSI camera {self.sensor_id} is not open.")
        ok, frame = self._cap.read(buffer) if buffer is not None else self._cap.read()
        if not ok or frame is None:
            raise SourceUnavailable(f"CSI camera {self.sensor_id} stopped delivering frames.")
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
