"""`csi://0`: a Jetson CSI camera through GStreamer's nvarguscamerasrc (needs OpenCV with GStreamer)."""

from __future__ import annotations

import cv2

from core.errors import UserError
from runtime.sources.base import CaptureSource, SourceInfo, SourceUnavailable
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


class CsiSource(CaptureSource):
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

    @property
    def label(self) -> str:
        return f"CSI camera {self.sensor_id}"

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
