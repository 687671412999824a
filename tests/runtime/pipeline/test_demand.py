"""On demand: the live pipeline idles without readers and wakes for a reader or a viewer
(real processor on ONNX Runtime, real outputs, a plain file standing in for the loopback node)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

import runtime.cuda
from runtime.images import scale_to_cover
from runtime.outputs.repeater import IdleRepeater
from runtime.outputs.status_card import status_card
from runtime.pipeline import Pipeline, PipelineStatus
from runtime.pipeline.demand import IDLE_FPS, PAUSED_CARD, WAKING_CARD
from runtime.settings import Settings
from tests.runtime.outputs.test_v4l2loopback import _loopback_devices
from tests.runtime.pipeline.test_pipeline import wait_until as wait_for_status

pytestmark = pytest.mark.slow
SIZE = (320, 240)


def wait_until(
    pipeline: Pipeline, check: Callable[[PipelineStatus], bool], timeout: float
) -> PipelineStatus:
    return wait_for_status(pipeline, check, timeout, poll_s=0.02)  # idle windows are short


def settings(**changes: object) -> Settings:
    values = {"width": SIZE[0], "height": SIZE[1], "fps": 30, "effect": "mask"}
    values |= {"backend": "onnxruntime", "mask": {"opacity": 1.0}, "idle_after": 0.5}
    return Settings.model_validate(values | changes)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(int)


def cards() -> list[np.ndarray]:
    """Every card the outputs may show around an idle period."""
    titles = [PAUSED_CARD, WAKING_CARD, ("Starting the camera", ""), ("Preparing the model", "")]
    return [status_card(SIZE[0], SIZE[1], *title).astype(int) for title in titles]


def is_card(image: np.ndarray) -> bool:
    return min(float(np.abs(image - card).mean()) for card in cards()) < 6


@pytest.fixture
def standin(tmp_path: Path) -> Path:
    """A plain file where the v4l2loopback node would be: the output cannot open it (not a
    device), but opening it is seen exactly as a meeting app opening the virtual camera."""
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return path


def test_idle_without_readers_and_wake_when_the_virtual_camera_is_opened(
    run_pipeline: Callable[[Settings], Pipeline], photo_path: Path, standin: Path
) -> None:
    pipeline = run_pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://", f"v4l2loopback://{standin}"])
    )
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
    time.sleep(0.3)  # a frame that was in flight when it went idle has landed
    idle = pipeline.status()
    assert idle.readers == 0 and idle.readers_detail["virtual_camera"] == 0
    # Idle: nothing is segmented or composited, the outputs get the paused card, and the
    # service stays healthy.
    time.sleep(1.0)
    still = pipeline.status()
    assert still.demand_state == "idle" and still.state == "running"
    assert still.healthy and still.health.startswith("idle")  # /healthz 200, watchdog fed
    assert still.frames_segmented == idle.frames_segmented
    assert still.frames_out == idle.frames_out
    assert still.idle_seconds_total >= 1.2
    assert still.camera_state == "running"  # idle_camera = "keep": it keeps streaming
    assert still.frames_in > idle.frames_in

    # A meeting app opens the virtual camera: processed frames flow again.
    reader = os.open(standin, os.O_RDWR)
    try:
        woken = wait_until(pipeline, lambda st: st.frames_out > still.frames_out, 30)
        assert woken.demand_state == "active" and woken.wakes == 1
        assert woken.readers_detail["virtual_camera"] == 1
        assert woken.last_wake_ms is not None and woken.last_wake_ms > 0
        assert woken.frames_segmented > still.frames_segmented
        # Watched: it stays active well past idle_after.
        time.sleep(1.5)
        assert pipeline.status().demand_state == "active"
    finally:
        os.close(reader)
    # The app closed it: idle again, and the idle time adds up.
    again = wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
    assert again.readers == 0
    time.sleep(0.3)
    assert pipeline.status().idle_seconds_total > still.idle_seconds_total


@pytest.mark.parametrize(
    "frame_path",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                not hasattr(runtime.cuda, "open_cuda_processor"),
                reason="runtime.cuda.open_cuda_processor does not exist yet: it comes with the "
                "cuda branch",
            ),
        ),
    ],
)
def test_a_preview_viewer_wakes_it_and_never_sees_the_raw_room(
    run_pipeline: Callable[[Settings], Pipeline],
    photo_path: Path,
    frame_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same on both frame paths: the CUDA one on the host executor where there is no GPU.
    monkeypatch.setenv("BODYPIX_CUDA_EXECUTOR", "host")
    pipeline = run_pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"], frame_path=frame_path)
    )
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
    time.sleep(0.6)  # the paused card is written at 2 fps; a frame in flight has landed
    idle = pipeline.status()
    assert idle.demand_state == "idle"

    photo = cv2.imread(str(photo_path))
    assert photo is not None
    raw = scale_to_cover(np.asarray(photo, np.uint8), SIZE[1], SIZE[0]).astype(int)
    # A viewer opens the preview and takes every frame that comes, noting how many masks
    # existed when each arrived.
    seen: list[tuple[np.ndarray, int]] = []
    done = threading.Event()

    def view() -> None:
        seq = 0
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            got = pipeline.mjpeg.wait_next(seq, 0.5)
            if got is None:
                continue
            seq = got[0]
            seen.append((decode(got[1]), pipeline.status().frames_segmented))

    # Opening the preview wakes it at once (the read itself, not the next poll), and what it
    # shows first is the paused card.
    first = pipeline.mjpeg.latest()
    assert first is not None and pipeline.status().demand_state != "idle"
    seen.append((decode(first[1]), idle.frames_segmented))
    viewer = threading.Thread(target=view)
    viewer.start()
    try:
        wait_until(pipeline, lambda st: st.frames_out >= idle.frames_out + 5, 60)
    finally:
        done.set()
        viewer.join()
    status = pipeline.status()
    assert status.frame_path == frame_path
    assert status.wakes == 1 and status.readers_detail["preview"] >= 1
    assert np.abs(seen[0][0] - cards()[0]).mean() < 6  # what the viewer found: paused card
    processed = [(image, masks) for image, masks in seen if not is_card(image)]
    assert processed, "no processed frame reached the viewer"
    for image, _ in seen:  # never the raw room, during the wake or after
        assert np.abs(image - raw).mean() > 15
    # The first processed frame used a mask made after the wake, not the one from before.
    assert processed[0][1] > idle.frames_segmented


def test_closing_the_camera_while_idle(
    run_pipeline: Callable[[Settings], Pipeline], standin: Path
) -> None:
    pipeline = run_pipeline(
        settings(source="demo://", outputs=[f"v4l2loopback://{standin}"], idle_camera="close")
    )
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
    closed = wait_until(pipeline, lambda st: st.camera_state == "idle", 5)
    time.sleep(0.5)
    idle = pipeline.status()
    assert idle.frames_in == closed.frames_in  # no frame from a closed camera
    reader = os.open(standin, os.O_RDONLY)
    try:
        woken = wait_until(pipeline, lambda st: st.frames_out > idle.frames_out, 30)
        assert woken.camera_state == "running" and woken.demand_state == "active"
        assert woken.last_wake_ms is not None
    finally:
        os.close(reader)


def test_recording_to_a_file_is_always_watched(
    run_pipeline: Callable[[Settings], Pipeline], tmp_path: Path
) -> None:
    pipeline = run_pipeline(
        settings(source="demo://", outputs=[f"file://{tmp_path / 'out.avi'}"], idle_after=0.3)
    )
    first = wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    time.sleep(1.0)
    status = pipeline.status()
    assert status.demand_state == "active" and status.readers_detail["recording"] == 1
    assert status.frames_out > first.frames_out
    # idle_after = 0: never idle, even with nobody watching.
    update = {"outputs": ["mjpeg://"], "idle_after": 0.0}
    pipeline.apply_settings(pipeline.settings.model_copy(update=update))
    time.sleep(1.0)
    assert pipeline.status().demand_state == "active"


def test_the_repeater_follows_a_lower_rate_while_idle() -> None:
    # V4l2LoopbackOutput.set_rate sets its repeater's interval: while idle the paused card,
    # submitted at 2 fps, is not re-sent in between at the camera's rate.
    sent: list[bytes] = []
    repeater = IdleRepeater(sent.append, fps=50)
    try:
        repeater.submit(b"frame")
        time.sleep(0.3)
        assert repeater.repeats >= 3  # 50 fps: repeated every 30 ms
        repeater.interval = 1.0 / IDLE_FPS
        repeater.submit(b"paused card")
        before = repeater.repeats
        time.sleep(0.3)  # within 1.5 idle intervals (0.75 s): no repeat due
        assert repeater.repeats == before
    finally:
        repeater.close()


def test_no_idle_countdown_while_nothing_is_processed(
    run_pipeline: Callable[[Settings], Pipeline],
) -> None:
    # No camera: nothing to save, and the outputs must keep saying why (the status card).
    pipeline = run_pipeline(settings(source="/dev/video95", idle_after=0.2))
    wait_until(pipeline, lambda st: st.camera_state == "unavailable", 30)
    time.sleep(1.0)
    status = pipeline.status()
    assert status.demand_state == "active" and status.idle_seconds_total == 0


@pytest.mark.skipif(
    not _loopback_devices(),
    reason="no v4l2loopback device here (sudo modprobe v4l2loopback exclusive_caps=1)",
)
def test_a_real_virtual_camera_reader(
    run_pipeline: Callable[[Settings], Pipeline], photo_path: Path
) -> None:
    device = _loopback_devices()[0]
    pipeline = run_pipeline(
        settings(source=f"image://{photo_path}", outputs=[f"v4l2loopback://{device}"])
    )
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    idle = wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
    assert idle.readers_detail["virtual_camera"] == 0  # our own writer is no reader
    reader = cv2.VideoCapture(device, cv2.CAP_V4L2)
    try:
        assert reader.isOpened()
        ok, first = reader.read()  # a valid stream (the card) straight away
        assert ok and first.shape == (SIZE[1], SIZE[0], 3)
        woken = wait_until(
            pipeline,
            lambda st: st.demand_state == "active" and st.frames_out > idle.frames_out,
            30,
        )
        assert woken.readers_detail["virtual_camera"] >= 1
    finally:
        reader.release()
    wait_until(pipeline, lambda st: st.demand_state == "idle", 10)
