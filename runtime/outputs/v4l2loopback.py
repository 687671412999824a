"""`v4l2loopback:///dev/video10`: the virtual camera the meeting software opens.

Written with V4L2 ioctls directly (ctypes + fcntl) rather than pyvirtualcam, because the
format must be YUYV (what Chrome, Firefox, Zoom and Teams accept) and be set with
VIDIOC_S_FMT before the first frame, and every failure must be explained in one sentence:
pyvirtualcam converts to I420 and reports failures as generic errors.

Why our own ctypes structures and not linuxpy (checked linuxpy 0.25.0 for issue 16): its
`linuxpy.video` covers what this writer needs. `raw.v4l2_format`, `raw.v4l2_pix_format` and
`raw.v4l2_capability` have the kernel layout (208, 48 and 104 bytes, as ours); `raw.IOC.S_FMT`,
`raw.IOC.G_FMT`, `raw.IOC.QUERYCAP`, `raw.PixelFormat.YUYV`, `raw.BufType.VIDEO_OUTPUT`,
`raw.Field.NONE`, `raw.Colorspace.SRGB`, `raw.Capability.VIDEO_OUTPUT` / `DEVICE_CAPS` are
there; `device.set_raw_format(fd, fmt)` issues VIDIOC_S_FMT with a request we fill (its
`set_format` / `VideoOutput.set_format` leave field and colorspace to the driver),
`device.read_capabilities(fd)` VIDIOC_QUERYCAP, and `Device.write()` write() I/O (its
`VideoOutput` helper would also STREAMON and pick mmap I/O when the driver offers STREAMING,
which v4l2loopback does, so only those lower-level calls would fit). It is not used because:
(1) linuxpy is GPL-3.0-or-later and this project is Apache-2.0, so making it a dependency is a
licensing decision for the project, not a refactoring; (2) it ships no py.typed marker, so
mypy treats it as untyped and would check none of these calls. What stays here is the subset
of linux/videodev2.h we use; tests/runtime/outputs/test_v4l2loopback.py pins its layout and ioctl
numbers to the header.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import stat

import cv2
import numpy as np

from core.errors import UserError
from runtime.outputs.base import BGRFrame, FrameOutput
from runtime.outputs.readers import close_own, open_own
from runtime.outputs.repeater import IdleRepeater

# --- linux/videodev2.h (the subset we use) ----------------------------------------------------
V4L2_BUF_TYPE_VIDEO_OUTPUT = 2
V4L2_FIELD_NONE = 1
V4L2_COLORSPACE_SRGB = 8
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_OUTPUT = 0x00000002
V4L2_CAP_DEVICE_CAPS = 0x80000000
LOOPBACK_DRIVER = "v4l2 loopback"
MODULE_HINT = (
    "sudo modprobe v4l2loopback devices=1 video_nr={nr} exclusive_caps=1 card_label=BodyPix"
)


def v4l2_fourcc(code: str) -> int:
    a, b, c, d = (ord(ch) for ch in code)
    return a | (b << 8) | (c << 16) | (d << 24)


V4L2_PIX_FMT_YUYV = v4l2_fourcc("YUYV")


class V4l2PixFormat(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("pixelformat", ctypes.c_uint32),
        ("field", ctypes.c_uint32),
        ("bytesperline", ctypes.c_uint32),
        ("sizeimage", ctypes.c_uint32),
        ("colorspace", ctypes.c_uint32),
        ("priv", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("ycbcr_enc", ctypes.c_uint32),
        ("quantization", ctypes.c_uint32),
        ("xfer_func", ctypes.c_uint32),
    ]


class _V4l2FormatUnion(ctypes.Union):
    # The kernel union also holds struct v4l2_window, whose pointers make it 8-byte aligned
    # on 64-bit: the c_uint64 member reproduces that alignment (type at 0, fmt at 8).
    _fields_ = [
        ("pix", V4l2PixFormat),
        ("raw_data", ctypes.c_uint8 * 200),
        ("_align", ctypes.c_uint64),
    ]


class V4l2Format(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("fmt", _V4l2FormatUnion)]


class V4l2Capability(ctypes.Structure):
    _fields_ = [
        ("driver", ctypes.c_char * 16),
        ("card", ctypes.c_char * 32),
        ("bus_info", ctypes.c_char * 32),
        ("version", ctypes.c_uint32),
        ("capabilities", ctypes.c_uint32),
        ("device_caps", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 3),
    ]


def _ioc(direction: int, kind: str, number: int, size: int) -> int:
    # asm-generic/ioctl.h: dir:2 | size:14 | type:8 | nr:8 (x86, ARM; the Jetson is aarch64).
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | number


_IOC_WRITE, _IOC_READ = 1, 2
VIDIOC_QUERYCAP = _ioc(_IOC_READ, "V", 0, ctypes.sizeof(V4l2Capability))
VIDIOC_G_FMT = _ioc(_IOC_READ | _IOC_WRITE, "V", 4, ctypes.sizeof(V4l2Format))
VIDIOC_S_FMT = _ioc(_IOC_READ | _IOC_WRITE, "V", 5, ctypes.sizeof(V4l2Format))


def yuyv_format(width: int, height: int) -> V4l2Format:
    """The VIDIOC_S_FMT request: YUYV 4:2:2, progressive, sRGB, tightly packed."""
    fmt = V4l2Format()
    fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT
    pix = fmt.fmt.pix
    pix.width, pix.height = width, height
    pix.pixelformat = V4L2_PIX_FMT_YUYV
    pix.field = V4L2_FIELD_NONE
    pix.bytesperline = width * 2
    pix.sizeimage = width * height * 2
    pix.colorspace = V4L2_COLORSPACE_SRGB
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
            # open_own: the reader count (runtime.outputs.readers) must not count our writer.
            self._fd = open_own(device, os.O_RDWR | os.O_NONBLOCK)
        except PermissionError:
            raise UserError(
                f"No permission to open virtual camera {device}; add the service user to the video group (sudo usermod -aG video USER)."
            ) from None
        try:
            self._configure(hint)
        except BaseException:
            close_own(device, self._fd)
            raise

    def _configure(self, hint: str) -> None:
        cap = V4l2Capability()
        try:
            fcntl.ioctl(self._fd, VIDIOC_QUERYCAP, cap)
        except OSError as exc:
            raise UserError(
                f"{self.device} is not a V4L2 device ({os.strerror(exc.errno or 0)}); give the loopback device, e.g. v4l2loopback:///dev/video10."
            ) from None
        caps = cap.device_caps if cap.capabilities & V4L2_CAP_DEVICE_CAPS else cap.capabilities
        driver = cap.driver.decode(errors="replace")
        self.card = cap.card.decode(errors="replace")
        if driver != LOOPBACK_DRIVER and not caps & V4L2_CAP_VIDEO_OUTPUT:
            raise UserError(
                f"{self.device} is a camera ({driver}: {self.card}), not a v4l2loopback virtual camera; give the loopback device (`v4l2-ctl --list-devices` lists it) or run `{hint}`."
            )
        fmt = yuyv_format(self.width, self.height)
        try:
            fcntl.ioctl(self._fd, VIDIOC_S_FMT, fmt)
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

    def set_rate(self, fps: float | None) -> None:
        # Idle (runtime.pipeline.demand): the paused card, repeated at a low rate.
        self._repeater.interval = 1.0 / (fps or self.fps)

    def _send(self, data: bytes) -> None:
        # No free buffer on the reader side right now: drop this frame, the next one follows.
        with contextlib.suppress(BlockingIOError):
            os.write(self._fd, data)

    def close(self) -> None:
        repeater = getattr(self, "_repeater", None)
        if repeater is not None:
            repeater.close()
        if getattr(self, "_fd", -1) >= 0:
            close_own(self.device, self._fd)
            self._fd = -1
