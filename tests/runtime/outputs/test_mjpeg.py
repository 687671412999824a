"""The panel's preview buffer: newest frame only, encoded lazily and once per frame."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import pytest

from runtime.outputs import MjpegOutput, open_output


def _frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_latest_and_encode_once() -> None:
    out = MjpegOutput()
    assert out.latest() is None
    for value in (10, 20, 30):
        out.write(_frame(value))
    assert out.encodes == 0  # nobody read yet: nothing encoded
    first = out.latest()
    second = out.latest()
    assert first is not None and first == second
    assert out.encodes == 1
    seq, jpeg = first
    assert seq == 3
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert abs(int(image.mean()) - 30) <= 2  # the newest frame, not a queued one


def test_wait_next_across_threads() -> None:
    out = MjpegOutput()
    out.write(_frame(1))
    assert out.wait_next(1, timeout=0.05) is None  # nothing newer
    timer = threading.Timer(0.05, out.write, args=(_frame(200),))
    timer.start()
    got = out.wait_next(1, timeout=5)
    timer.join()
    assert got is not None and got[0] == 2


def test_preview_options_downscale() -> None:
    out = open_output("mjpeg://?quality=50&width=32", 64, 48, 30)
    assert isinstance(out, MjpegOutput) and out.quality == 50
    out.write(_frame(100))
    got = out.latest()
    assert got is not None
    image = cv2.imdecode(np.frombuffer(got[1], np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (24, 32, 3)


def test_write_does_not_wait_for_an_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 7: write() (the output thread) waited for a preview's JPEG encode."""
    encoding, release = threading.Event(), threading.Event()
    real_imencode = cv2.imencode

    def slow_imencode(*args: Any, **kwargs: Any) -> Any:
        encoding.set()
        release.wait(10)  # an encode longer than any frame interval
        return real_imencode(*args, **kwargs)

    monkeypatch.setattr(cv2, "imencode", slow_imencode)
    out = MjpegOutput()
    out.write(_frame(10))
    reader = threading.Thread(target=out.latest)
    reader.start()
    assert encoding.wait(5)

    def write_three() -> None:
        for value in (20, 30, 40):
            out.write(_frame(value))

    writer = threading.Thread(target=write_three)
    writer.start()
    writer.join(2)
    finished = not writer.is_alive()
    release.set()
    reader.join(5)
    writer.join(5)
    assert finished, "write() blocked behind the encode"
    got = out.latest()
    assert got is not None and got[0] == 4  # the newest frame, encoded after the others
