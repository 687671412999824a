"""The virtual-camera writer: what can be checked without the v4l2loopback module, and a real
end-to-end run where a loopback device exists."""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.outputs import open_output
from runtime.outputs import v4l2loopback as v4l2
from runtime.outputs.repeater import IdleRepeater

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="V4L2 exists on Linux only")


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="layout checked for 64-bit ABIs")
def test_struct_layout_matches_videodev2_h() -> None:
    # Values from linux/videodev2.h on x86_64 and aarch64 (the Jetson).
    assert ctypes.sizeof(v4l2.V4l2PixFormat) == 48
    assert ctypes.sizeof(v4l2.V4l2Format) == 208
    assert v4l2.V4l2Format.fmt.offset == 8
    assert ctypes.sizeof(v4l2.V4l2Capability) == 104
    assert v4l2.V4l2Capability.capabilities.offset == 84
    assert v4l2.VIDIOC_QUERYCAP == 0x80685600
    assert v4l2.VIDIOC_G_FMT == 0xC0D05604
    assert v4l2.VIDIOC_S_FMT == 0xC0D05605
    assert v4l2.V4L2_PIX_FMT_YUYV == 0x56595559


def test_format_request_is_packed_yuyv_output() -> None:
    fmt = v4l2.yuyv_format(1280, 720)
    raw = bytes(fmt)
    # struct v4l2_format as the kernel reads it: type, padding, then v4l2_pix_format.
    words = np.frombuffer(raw[8:56], dtype="<u4")
    assert int.from_bytes(raw[:4], "little") == v4l2.V4L2_BUF_TYPE_VIDEO_OUTPUT == 2
    assert words.tolist()[:7] == [
        1280,
        720,
        0x56595559,
        1,  # V4L2_FIELD_NONE
        1280 * 2,
        1280 * 720 * 2,
        8,  # V4L2_COLORSPACE_SRGB
    ]


def test_bgr_to_yuyv_is_bt601_limited_range() -> None:
    frame = np.zeros((2, 4, 3), np.uint8)
    frame[:, :2] = (255, 255, 255)  # white
    frame[:, 2:] = (0, 0, 255)  # red
    yuyv = v4l2.bgr_to_yuyv(frame)
    assert yuyv.shape == (2, 4, 2)
    assert yuyv[0, :2].tolist() == [[235, 128], [235, 128]]  # Y U Y V of white
    assert yuyv[0, 2:].tolist() == [[82, 90], [82, 240]]  # Y U Y V of red
    # And it decodes back to the picture.
    back = cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV)
    assert np.abs(back.astype(int) - frame).max() <= 2
    with pytest.raises(ValueError, match="even"):
        v4l2.bgr_to_yuyv(np.zeros((2, 3, 3), np.uint8))


def test_missing_device_says_load_the_module() -> None:
    with pytest.raises(UserError) as info:
        open_output("v4l2loopback:///dev/video97", 640, 480, 30)
    message = str(info.value)
    assert "does not exist" in message
    assert "modprobe v4l2loopback" in message and "exclusive_caps=1" in message
    assert "video_nr=97" in message


def test_regular_file_is_not_a_device(tmp_path: Path) -> None:
    path = tmp_path / "video10"
    path.write_bytes(b"")
    with pytest.raises(UserError, match="is not a video device"):
        open_output(f"v4l2loopback://{path}", 640, 480, 30)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_character_device_that_is_not_v4l2() -> None:
    with pytest.raises(UserError, match="is not a V4L2 device"):
        open_output("v4l2loopback:///dev/null", 640, 480, 30)


def test_odd_width_is_refused() -> None:
    with pytest.raises(UserError, match="even width"):
        open_output("v4l2loopback:///dev/null", 641, 480, 30)


def _loopback_devices() -> list[str]:
    found = []
    for name_file in glob.glob("/sys/class/video4linux/video*/name"):
        device = "/dev/" + Path(name_file).parent.name
        driver = Path(name_file).parent / "device" / "driver"
        module = os.path.basename(os.path.realpath(driver)) if driver.exists() else ""
        if os.path.exists(device) and ("loopback" in module or "v4l2loopback" in module):
            found.append(device)
    found += [d for d in glob.glob("/dev/video*") if "loopback" in _card(d)]
    return sorted(set(found))


def _card(device: str) -> str:
    name = Path("/sys/class/video4linux") / os.path.basename(device) / "name"
    return name.read_text().lower() if name.exists() else ""


@pytest.mark.skipif(
    not _loopback_devices(),
    reason="no v4l2loopback device here (sudo modprobe v4l2loopback exclusive_caps=1)",
)
def test_loopback_end_to_end() -> None:
    device = _loopback_devices()[0]
    output = open_output(f"v4l2loopback://{device}", 640, 480, 30)
    try:
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[:, :320] = (0, 0, 255)
        for _ in range(5):
            output.write(frame)
        reader = cv2.VideoCapture(device, cv2.CAP_V4L2)
        assert reader.isOpened()
        got = None
        for _ in range(30):
            output.write(frame)
            ok, got = reader.read()
            if ok:
                break
        reader.release()
        assert got is not None and got.shape == (480, 640, 3)
        assert got[240, 100, 2] > 200 and got[240, 500, 2] < 50
    finally:
        output.close()


def test_idle_repeater_keeps_the_consumer_fed() -> None:
    sent: list[bytes] = []
    repeater = IdleRepeater(sent.append, fps=100)
    try:
        repeater.submit(b"frame-1")
        deadline = time.monotonic() + 5
        while repeater.repeats < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert repeater.repeats >= 3  # stalled: the last frame goes out again by itself
        assert set(sent) == {b"frame-1"}
        repeater.submit(b"frame-2")
        assert sent[-1] == b"frame-2"
    finally:
        repeater.close()
    count = len(sent)
    time.sleep(0.1)
    assert len(sent) == count  # closed: nothing more is sent


def test_idle_repeater_survives_any_exception(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 item 7: the repeater thread died on anything but OSError."""
    sent: list[bytes] = []
    failures = iter([ValueError("odd payload"), KeyError("x"), ValueError("odd payload")])

    def send(payload: bytes) -> None:
        failure = next(failures, None)
        if failure is not None and sent:  # submit() goes through; the repeats fail first
            raise failure
        sent.append(payload)

    repeater = IdleRepeater(send, fps=100, name="test-repeater")
    try:
        repeater.submit(b"frame-1")
        deadline = time.monotonic() + 5
        while repeater.repeats < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert repeater.repeats >= 3  # still repeating after three exceptions
    finally:
        repeater.close()
    logged = [
        r.getMessage() for r in caplog.records if "repeating the last frame" in r.getMessage()
    ]
    assert len(logged) == 2  # each distinct error once
