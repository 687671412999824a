"""The CUDA context on several threads, on the host executor whose driver stand-in raises on
any device call made without the context current (as a Jetson does: "invalid device
context"), so these tests fail where a call escapes `device.active()`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from core.errors import UserError
from runtime.cuda.buffers import DeviceBuffer
from runtime.cuda.host_executor import HostCudaError, HostDevice
from runtime.cuda.processor import CudaFrameProcessor
from tests.runtime.cuda.conftest import settings


@pytest.fixture(params=["pinned", "mapped"])
def host_device(request: pytest.FixtureRequest) -> Any:
    dev = HostDevice(request.param)
    yield dev
    dev.close()
    assert dev.violations == []


def test_device_calls_need_the_context_current(host_device: HostDevice) -> None:
    with pytest.raises(HostCudaError, match="without the CUDA context current"):
        DeviceBuffer(host_device, (4,), np.float32)
    with host_device.active():
        buffer = DeviceBuffer(host_device, (4,), np.float32)
    errors: list[BaseException] = []

    def free_elsewhere() -> None:  # current on the main thread is not current here
        try:
            buffer.free()
        except HostCudaError as exc:
            errors.append(exc)

    with host_device.active():
        thread = threading.Thread(target=free_elsewhere)
        thread.start()
        thread.join()
        assert len(errors) == 1
        buffer.free()


def test_segment_composite_and_capture_on_three_threads(
    host_device: HostDevice, backend: Any, photo: np.ndarray
) -> None:
    """The live pipeline's threads: capture decodes into the processor's ring, inference
    segments the newest frame, output composites it; close() comes from a fourth thread."""
    processor = CudaFrameProcessor(settings(effect="blur", smoothing=0.5), backend, host_device)
    height, width = photo.shape[:2]
    newest: list[np.ndarray] = []
    segmented = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"capture": 0, "segment": 0, "composite": 0}
    outputs: list[np.ndarray] = []

    def guarded(name: str, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                while not stop.is_set() and counts[name] < 200:
                    body()
                    counts[name] += 1
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return run

    ring: list[np.ndarray] = []

    def capture() -> None:
        if not ring:  # allocated by the capture thread itself
            ring.extend(processor.capture_frames(height, width, 4))
        frame = ring[counts["capture"] % len(ring)]
        frame[...] = np.roll(photo, 4 * (counts["capture"] % 8), axis=1)
        newest[:] = [frame]
        time.sleep(0.002)

    def infer() -> None:
        if newest:
            processor.segment(newest[0])
            segmented.set()
        else:
            time.sleep(0.001)

    def output() -> None:
        if segmented.is_set() and newest:
            image = processor.composite(newest[0], None)
            assert image.shape == photo.shape
            outputs[:] = [image]  # the MJPEG output keeps the last frame
        else:
            time.sleep(0.001)

    threads = [
        threading.Thread(target=guarded(name, body), name=name)
        for name, body in (("capture", capture), ("segment", infer), ("composite", output))
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and min(counts.values()) < 10 and not errors:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert min(counts.values()) >= 10, counts
    assert processor.stage_ms()["composite"] > 0
    closer = threading.Thread(target=processor.close, name="closer")
    closer.start()
    closer.join()
    with pytest.raises(UserError, match="closed"):
        processor.segment(photo)
    assert host_device.violations == []


def test_processor_methods_work_from_a_thread_that_never_pushed(
    host_device: HostDevice, backend: Any, photo: np.ndarray
) -> None:
    processor = CudaFrameProcessor(settings(effect="mask"), backend, host_device)
    results: list[Any] = []

    def work() -> None:
        results.append(processor.composite(photo, processor.segment(photo)).copy())
        results.append(processor.describe())
        processor.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert results[0].shape == photo.shape
    assert results[1].frame_path == "cuda"
    assert results[1].detail["executor"] == "host"
    assert results[1].detail["memory"] == host_device.mode


def test_frames_held_after_close_stay_valid_and_are_freed_in_context(
    backend: Any, photo: np.ndarray
) -> None:
    """An output keeps the last composited frame and capture its ring after the processor
    and the device are closed: the memory stays valid and is freed, with the context
    current, on whichever thread drops the last reference."""
    dev = HostDevice("mapped")
    processor = CudaFrameProcessor(settings(effect="mask"), backend, dev)
    height, width = photo.shape[:2]
    ring = processor.capture_frames(height, width, 2)
    ring[0][...] = photo
    kept = processor.composite(ring[0], processor.segment(ring[0]))
    expected = kept.copy()
    processor.close()
    dev.close()
    assert not dev.closed  # still held: the context outlives the frames
    np.testing.assert_array_equal(kept, expected)
    ring[1][...] = 1  # capture may still write into its ring

    def drop() -> None:
        nonlocal kept
        del kept
        ring.clear()

    thread = threading.Thread(target=drop)
    thread.start()
    thread.join()
    assert dev.closed
    assert dev.violations == []


def test_asking_for_the_capture_ring_again_gives_the_same_ring(
    host_device: HostDevice, backend: Any
) -> None:
    processor = CudaFrameProcessor(settings(), backend, host_device)
    ring = processor.capture_frames(48, 64, 3)
    again = processor.capture_frames(48, 64, 3)
    assert [id(frame) for frame in again] == [id(frame) for frame in ring]
    assert processor.input_frame(48, 64) is ring[0]
    other = processor.capture_frames(32, 64, 3)  # a new size: a new ring, the old one valid
    assert other[0].shape == (32, 64, 3)
    ring[0][...] = 5
    processor.close()
