"""The live pipeline end to end with the real processor (ONNX Runtime on the CPU)."""

from __future__ import annotations

import importlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.images import scale_to_cover
from runtime.pipeline import Pipeline, PipelineStatus
from runtime.settings import Settings
from runtime.systemd_notify import SystemdNotifier

pytestmark = pytest.mark.slow
SIZE = (320, 240)


def wait_until(
    pipeline: Pipeline,
    check: Callable[[PipelineStatus], bool],
    timeout: float,
    poll_s: float = 0.05,
) -> PipelineStatus:
    deadline = time.monotonic() + timeout
    status = pipeline.status()
    while time.monotonic() < deadline:
        status = pipeline.status()
        if check(status):
            return status
        time.sleep(poll_s)
    raise AssertionError(f"condition not met in {timeout} s; status: {status.model_dump_json()}")


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def settings(**changes: object) -> Settings:
    values = {"width": SIZE[0], "height": SIZE[1], "fps": 30, "effect": "mask"}
    values |= {"backend": "onnxruntime", "mask": {"opacity": 1.0}}
    return Settings.model_validate(values | changes)


def test_image_source_into_file_and_mjpeg(
    run_pipeline: Callable[[Settings], Pipeline], photo_path: Path, tmp_path: Path
) -> None:
    from runtime.processor import FrameProcessor

    out_path = tmp_path / "out.avi"
    s = settings(source=f"image://{photo_path}", outputs=["mjpeg://", f"file://{out_path}"])
    pipeline = run_pipeline(s)
    status = wait_until(pipeline, lambda st: st.frames_out >= 10, 120)
    assert status.state == "running" and status.camera_state == "running"
    assert status.backend == "onnxruntime" and status.processor_state == "ready"
    assert status.source_description and "320x240" in status.source_description
    assert {"segment", "composite", "output"} <= set(status.latency_ms)
    assert status.glass_to_glass_ms is not None and status.glass_to_glass_ms > 0
    latest = pipeline.mjpeg.latest()
    assert latest is not None
    preview = decode(latest[1]).astype(int)
    pipeline.stop()

    # What the pipeline shows is what the processor makes of the frame (a still image has the
    # same mask every frame), and that differs from the raw frame: the effect is applied.
    photo = cv2.imread(str(photo_path))
    assert photo is not None
    raw = scale_to_cover(np.asarray(photo, np.uint8), SIZE[1], SIZE[0])
    processor = FrameProcessor(s)
    expected = processor.composite(raw, processor.segment(raw)).astype(int)
    processor.close()
    assert np.abs(preview - expected).mean() < 4
    assert np.abs(preview - raw.astype(int)).mean() > 15

    reader = cv2.VideoCapture(str(out_path))
    frames = int(reader.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = reader.read()
    reader.release()
    assert ok and first.shape == (SIZE[1], SIZE[0], 3) and frames >= 10
    assert not list(tmp_path.glob(".*partial*"))  # no temporary file left behind


def test_file_source_into_file(
    run_pipeline: Callable[[Settings], Pipeline], clip_path: Path, tmp_path: Path
) -> None:
    out_path = tmp_path / "out.mp4"
    pipeline = run_pipeline(settings(source=f"file://{clip_path}", outputs=[f"file://{out_path}"]))
    status = wait_until(pipeline, lambda st: st.frames_out >= 30, 120)  # clip is 12: it looped
    assert status.source_fps == 30.0 and status.source_width == 320
    pipeline.stop()
    reader = cv2.VideoCapture(str(out_path))
    assert int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) >= 30
    reader.release()


def test_demo_source_into_mjpeg_and_settings_between_frames(
    run_pipeline: Callable[[Settings], Pipeline],
) -> None:
    pipeline = run_pipeline(settings(source="demo://", outputs=["mjpeg://"]))
    wait_until(pipeline, lambda st: st.frames_out >= 5, 120)
    # An in-place change (effect) applies between frames: "none" shows the camera frame.
    pipeline.apply_settings(pipeline.settings.model_copy(update={"effect": "none"}))
    before = pipeline.status().frames_out
    wait_until(pipeline, lambda st: st.frames_out >= before + 5, 30)
    _, jpeg = pipeline.mjpeg.wait_next(0, 5) or (0, b"")
    preview = decode(jpeg)
    assert preview.shape == (SIZE[1], SIZE[0], 3)
    assert pipeline.settings.effect == "none"
    # Passthrough of the demo clip: a real photo, not a dark mask.
    assert preview.mean() > 60


def test_resolution_change_swaps_processor_without_stopping_outputs(
    run_pipeline: Callable[[Settings], Pipeline], photo_path: Path, tmp_path: Path
) -> None:
    out_path = tmp_path / "swap.avi"
    pipeline = run_pipeline(
        settings(source=f"image://{photo_path}", outputs=[f"file://{out_path}"])
    )
    wait_until(pipeline, lambda st: st.frames_out >= 5, 120)
    pipeline.apply_settings(pipeline.settings.model_copy(update={"internal_resolution": "low"}))
    before = pipeline.status().outputs[0].frames
    wait_until(pipeline, lambda st: st.outputs[0].frames >= before + 20, 120)
    status = pipeline.status()
    assert status.outputs[0].state == "running"  # the same output, never reopened
    assert status.processor_state == "ready" and status.last_error is None


def test_source_that_ends_shows_unavailable_and_comes_back(
    run_pipeline: Callable[[Settings], Pipeline], clip_path: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "camera.avi"
    clip.write_bytes(clip_path.read_bytes())
    pipeline = run_pipeline(settings(source=f"file://{clip}?loop=0", outputs=["mjpeg://"]))
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    # The 12-frame clip ends: the camera is "unplugged"; take it away so reconnects fail.
    wait_until(pipeline, lambda st: st.camera_state == "unavailable", 10)
    clip.rename(tmp_path / "away.avi")
    status = pipeline.status()
    assert status.last_error and "camera unavailable" in status.last_error
    # The outputs keep running with the "camera unavailable" frame.
    seq, _ = pipeline.mjpeg.latest() or (0, b"")
    got = pipeline.mjpeg.wait_next(seq, 3)
    assert got is not None
    card = decode(got[1])
    assert card.mean() < 70  # the dark status card, not the photo
    time.sleep(1.5)  # a few reconnect attempts (with backoff) fail meanwhile
    assert pipeline.status().camera_state == "unavailable"
    frames_in = pipeline.status().frames_in
    # Plugged back in: it resumes on its own.
    (tmp_path / "away.avi").rename(clip)
    status = wait_until(
        pipeline, lambda st: st.camera_state == "running" and st.frames_in > frames_in, 20
    )
    wait_until(pipeline, lambda st: st.frames_out > status.frames_out, 10)


def test_corrupt_model_falls_back_to_next_backend(
    models_dir: Path, photo_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from runtime.backends.onnxruntime.backend import OnnxRuntimeBackend
    from runtime.processor import FrameProcessor

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage, not a protobuf" * 50)

    def factory(s: Settings) -> FrameProcessor:
        # The first backend in the chain is handed a corrupt model file (as a damaged engine
        # would be); the fallback gets the real one.
        if s.backend != "onnxruntime":
            return FrameProcessor(s, backend=OnnxRuntimeBackend(corrupt, s.variant, s.threads))
        return FrameProcessor(s)

    caplog.set_level("WARNING", logger="runtime.pipeline")
    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"], backend="auto"),
        processor_factory=factory,
    )
    pipeline.start()
    try:
        status = wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    finally:
        pipeline.stop()
    assert status.backend == "onnxruntime" and status.processor_state == "ready"
    assert status.last_error and "auto backend failed to load" in status.last_error
    assert "corrupt.onnx" in status.last_error
    assert any("trying the next backend" in r.getMessage() for r in caplog.records)


def test_every_backend_failing_shows_a_card_not_the_camera(
    photo_path: Path, tmp_path: Path
) -> None:
    from runtime.backends.onnxruntime.backend import OnnxRuntimeBackend
    from runtime.processor import FrameProcessor

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"garbage" * 50)

    def factory(s: Settings) -> FrameProcessor:
        return FrameProcessor(s, backend=OnnxRuntimeBackend(corrupt, s.variant, s.threads))

    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"]), processor_factory=factory
    )
    pipeline.start()
    try:
        status = wait_until(pipeline, lambda st: st.processor_state == "failed", 60)
        latest = pipeline.mjpeg.latest()
        got = pipeline.mjpeg.wait_next(latest[0] if latest else 0, 5)
    finally:
        pipeline.stop()
    assert status.last_error and status.last_error.startswith("segmentation unavailable")
    assert got is not None and decode(got[1]).mean() < 70  # a dark card, never the raw room


def test_unavailable_tensorrt_falls_back(
    run_pipeline: Callable[[Settings], Pipeline], photo_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        tensorrt = importlib.import_module("tensorrt")
    except ImportError:
        tensorrt = None
    if hasattr(tensorrt, "Builder"):
        pytest.skip("TensorRT works here: its failure cannot be provoked this way")
    caplog.set_level("WARNING", logger="runtime.pipeline")
    pipeline = run_pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"], backend="tensorrt")
    )
    status = wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    assert status.backend == "onnxruntime"
    if status.last_error is None:
        pytest.skip("runtime.backends.create_backend has no TensorRT branch yet")
    assert "tensorrt backend failed to load" in status.last_error
    assert any("trying the next backend" in r.getMessage() for r in caplog.records)


def _datagrams(sock: socket.socket, until: str, timeout: float) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(until in m for m in messages):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return messages


@pytest.mark.parametrize("camera", ["present", "absent"])
def test_systemd_ready_and_watchdog(
    models_dir: Path, photo_path: Path, tmp_path: Path, camera: str
) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        source = f"image://{photo_path}" if camera == "present" else "/dev/video95"
        pipeline = Pipeline(settings(source=source), notifier=SystemdNotifier(address))
        pipeline.start()
        try:
            messages = _datagrams(sock, "READY=1", 60)
            messages += _datagrams(sock, "WATCHDOG=1", 5)
        finally:
            pipeline.stop()
        messages += _datagrams(sock, "STOPPING=1", 1)
    ready = [m for m in messages if m.startswith("READY=1")]
    assert len(ready) == 1
    expected = "STATUS=streaming" if camera == "present" else "STATUS=camera unavailable"
    assert expected in ready[0]
    if camera == "present":
        assert pipeline.status().frames_out >= 1
    assert "WATCHDOG=1" in messages and "STOPPING=1" in messages
