"""`v4l2loopback:///dev/video10`: the virtual camera the meeting software opens.

Written with V4L2 ioctls directly rather than pyvirtualcam, because the
format must be YUYV (what Chrome, Firefox, Zoom and Teams accept) and be set with
VIDIOC_S_FMT before the first frame, and every failure must be explained in one sentence:
pyvirtualcam converts to I420 and reports failures as generic errors.

The V4L2 structures, ioctl numbers and constants come from linuxpy (`linuxpy.video.raw`,
generated from linux/videodev2.h); the calls are its `set_raw_format` (VIDIOC_S_FMT with the
request we fill: its `set_format` leaves field and colorspace to the driver) and
`read_capabilities` (VIDIOC_QUERYCAP). Frames go out with write(); linuxpy's `VideoOutput`
helper is not used because it issues STREAMON and picks mmap I/O whenever the driver offers
STREAMING, which v4l2loopback does. linuxpy ships no py.typed marker: mypy sees it untyped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Any

import cv2
import numpy as np
from linuxpy.video import raw
from linuxpy.video.device import read_capabilities, set_raw_format

from convert.errors import UserError
from runtime.outputs.base import BGRFrame, FrameOutput
from runtime.outputs.repeater import IdleRepeater

V4L2_PIX_FMT_YUYV = int(raw.PixelFormat.YUYV)
LOOPBACK_DRIVER = "v4l2 loopback"
MODULE_HINT = (
    "sudo modprobe v4l2loopback devices=1 video_nr={nr} exclusive_caps=1 card_label=BodyPix"
)


def yuyv_format(width: int, height: int) -> Any:
    """The VIDIOC_S_FMT request (struct v4l2_format): YUYV 4:2:2, progressive, sRGB, packed."""
    fmt = raw.v4l2_format()
    fmt.type = raw.BufType.VIDEO_OUTPUT
    pix = fmt.fmt.pix
    pix.width, pix.height = width, height
    pix.pixelformat = V4L2_PIX_FMT_YUYV
    pix.field = raw.Field.NONE
    pix.bytesperline = width * 2
    pix.sizeimage = width * height * 2
    pix.colorspace = raw.Colorspace.SRGB
    return fmt


def bgr_to_yuyv(frame: BGRFrame) -> np.ndarray:
    """BGR uint8 [H, W, 3] -> YUYV bytes [H, W, 2] (BT.601 limited range, as webcams send)."""
    if frame.shape[1] % 2:
        raise ValueError("YUYV needs an even frame width")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_YUYV)


def _device_number(device: str) -> str:
    digits = "".join(ch for ch in os.path.basename(device) if ch.isdigit())
    return digits or "10"


class V4l2LoopbackOutput(FrameOutput):
    """Opens the loopback device, sets YUYV width x height, then writes one frame per write()."""

    def __init__(self, device: str, width: int, height: int, fps: float, uri: str = "") -> None:
        self.uri = uri or f"v4l2loopback://{device}"
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.card = ""
        hint = MODULE_HINT.format(nr=_device_number(device))
        if width % 2:
            raise UserError(
                f"Virtual camera width {width} is odd; YUYV needs an even width, e.g. {width + 1}."
            )
        if not os.path.exists(device):
            raise UserError(
                f"Virtual camera {device} does not exist: the v4l2loopback module is not loaded or uses another number; run `{hint}` (package v4l2loopback-dkms)."
            )
        if not stat.S_ISCHR(os.stat(device).st_mode):
            raise UserError(
                f"{device} is not a video device (it is a regular file or folder); give the loopback device, e.g. v4l2loopback:///dev/video10."
            )
        try:
            self._fd = os.open(device, os.O_RDWR | os.O_NONBLOCK)
        except PermissionError:
            raise UserError(
                f"No permission to open virtual camera {device}; add the service user to the video group (sudo usermod -aG video USER)."
            ) from None
        try:
            self._configure(hint)
        except BaseException:
            os.close(self._fd)
            raise

    def _configure(self, hint: str) -> None:
        try:
            cap = read_capabilities(self._fd)
        except OSError as exc:
            raise UserError(
                f"{self.device} is not a V4L2 device ({os.strerror(exc.errno or 0)}); give the loopback device, e.g. v4l2loopback:///dev/video10."
            ) from None
        caps = (
            cap.device_caps if cap.capabilities & raw.Capability.DEVICE_CAPS else cap.capabilities
        )
        driver = cap.driver.decode(errors="replace")
        self.card = cap.card.decode(errors="replace")
        if driver != LOOPBACK_DRIVER and not caps & raw.Capability.VIDEO_OUTPUT:
            raise UserError(
                f"{self.device} is a camera ({driver}: {self.card}), not a v4l2loopback virtual camera; give the loopback device (`v4l2-ctl --list-devices` lists it) or run `{hint}`."
            )
        fmt = yuyv_format(self.width, self.height)
        try:
            set_raw_format(self._fd, fmt)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise UserError(
                    f"v4l2loopback refused {self.width}x{self.height} YUYV on {self.device} (Errno 22): another program already streams it in a different format, or the module was loaded without exclusive_caps=1; close that program, then `sudo modprobe -r v4l2loopback && {hint}`."
                ) from None
            if exc.errno == errno.EBUSY:
                raise UserError(
                    f"Virtual camera {self.device} is busy: another writer (a second bodypix?) holds it; stop that program or use another loopback device."
                ) from None
            raise
        granted = fmt.fmt.pix
        if (granted.width, granted.height, granted.pixelformat) != (
            self.width,
            self.height,
            V4L2_PIX_FMT_YUYV,
        ):
            raise UserError(
                f"v4l2loopback on {self.device} granted {granted.width}x{granted.height} instead of {self.width}x{self.height} YUYV; reload the module (`sudo modprobe -r v4l2loopback && {hint}`) so no old format sticks."
            )
        self._frame_bytes = int(granted.sizeimage) or self.width * self.height * 2
        # Processing may stall (a model swap, a slow frame): keep the meeting app fed.
        self._repeater = IdleRepeater(self._send, self.fps, name=f"loopback-{self.device}")

    @property
    def description(self) -> str:
        return f"virtual camera {self.device} ({self.card or 'v4l2loopback'}, {self.width}x{self.height} YUYV @ {self.fps:g} fps)"

    def write(self, frame: BGRFrame) -> None:
        if self._fd < 0:
            raise OSError(f"virtual camera {self.device} is closed")
        self._repeater.submit(np.ascontiguousarray(bgr_to_yuyv(frame)).tobytes())

    def _send(self, data: bytes) -> None:
        # No free buffer on the reader side right now: drop this frame, the next one follows.
        with contextlib.suppress(BlockingIOError):
            os.write(self._fd, data)

    def close(self) -> None:
        repeater = getattr(self, "_repeater", None)
        if repeater is not None:
            repeater.close()
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1
