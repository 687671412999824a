"""Faults that used to silence the appliance (issue 12 item 3), against the real pipeline."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import runtime.effects
from runtime.pipeline import OUTPUT_STALL_S, Pipeline
from runtime.settings import Settings
from runtime.systemd_notify import SystemdNotifier
from tests.runtime.pipeline.test_pipeline import _datagrams, settings, wait_until

pytestmark = pytest.mark.slow


def damaged_background(folder: Path, kind: str, astronaut: np.ndarray) -> Path:
    """A picture or video cut off at a third of its length, named like a library entry."""
    if kind == "picture":
        path = folder / "bg0123456789abcdef.jpg"
        ok, data = cv2.imencode(".jpg", astronaut)
        assert ok
        full = data.tobytes()
    else:
        path = folder / "bg0123456789abcdef.mp4"
        whole = folder / "whole.mp4"
        writer = cv2.VideoWriter(str(whole), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (320, 240))
        for i in range(60):
            writer.write(np.full((240, 320, 3), i * 4, np.uint8))
        writer.release()
        full = whole.read_bytes()
    path.write_bytes(full[: len(full) // 3])
    return path


@pytest.mark.parametrize("kind", ["picture", "video"])
def test_damaged_background_falls_back_to_blur(
    models_dir: Path,
    photo_path: Path,
    tmp_path: Path,
    astronaut: np.ndarray,
    pipelines: list[Pipeline],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    opened: list[str] = []

    class CountingBackground(runtime.effects.Background):
        def __init__(self, path: str | Path | None) -> None:
            opened.append(str(path))
            super().__init__(path)

    monkeypatch.setattr(runtime.effects, "Background", CountingBackground)
    caplog.set_level("WARNING", logger="runtime.pipeline")
    background = damaged_background(tmp_path, kind, astronaut)
    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", effect="replace", background=str(background))
    )
    pipelines.append(pipeline)
    pipeline.start()
    status = wait_until(pipeline, lambda st: st.frames_out >= 30, 120)
    assert status.healthy, status.health
    assert len(status.notices) == 1
    notice = status.notices[0]
    assert "bg0123456789abcdef" in notice and "blur" in notice
    assert str(tmp_path) not in notice and "/" not in notice  # no host path for the panel
    warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not once a frame
    assert len(opened) == 1  # the file is not reopened every frame
    # Another background (none: a flat colour) is honoured again and clears the notice.
    pipeline.apply_settings(pipeline.settings.model_copy(update={"background": None}))
    status = wait_until(pipeline, lambda st: not st.notices, 10)
    assert status.healthy


def test_frames_in_but_none_out_is_unhealthy_and_withholds_the_watchdog(
    models_dir: Path, photo_path: Path, tmp_path: Path
) -> None:
    from runtime.backends.onnxruntime.backend import OnnxRuntimeBackend
    from runtime.processor import FrameProcessor

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"garbage" * 50)

    def factory(s: Settings) -> FrameProcessor:
        return FrameProcessor(s, backend=OnnxRuntimeBackend(corrupt, s.variant, s.threads))

    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        pipeline = Pipeline(
            settings(source=f"image://{photo_path}"),
            processor_factory=factory,
            notifier=SystemdNotifier(address),
        )
        pipeline.start()
        try:
            status = wait_until(pipeline, lambda st: not st.healthy, OUTPUT_STALL_S + 30)
            assert status.camera_state == "running" and status.frames_in > 0
            assert status.frames_out == 0
            assert "none has gone out" in status.health
            assert str(tmp_path) not in status.health
            _datagrams(sock, "never", 0.2)  # drain what came before
            time.sleep(1.5)  # three watchdog periods (0.5 s without WATCHDOG_USEC)
            after = _datagrams(sock, "never", 0.2)
        finally:
            pipeline.stop()
    assert not any("WATCHDOG=1" in m for m in after), after
