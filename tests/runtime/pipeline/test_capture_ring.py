"""Zero-copy capture: sources decode into the processor's capture buffers through a ring,
and no output ever sees a frame change after it was handed over (issue 11 part 4)."""

from __future__ import annotations

import threading
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.outputs.base import FrameOutput
from runtime.pipeline import Pipeline
from runtime.processor import FrameProcessor, SegmentationResult
from runtime.settings import Settings
from tests.runtime.pipeline.test_pipeline import settings, wait_until

pytestmark = pytest.mark.slow


class ChecksumOutput(FrameOutput):
    """Keeps the frames it is given, as the MJPEG preview does, with their checksum at write
    time; re-checks older ones on every write and all of them at the end."""

    def __init__(self) -> None:
        self.kept: deque[tuple[np.ndarray, int]] = deque(maxlen=48)
        self.torn: list[int] = []
        self.writes = 0
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return "checksum recorder"

    def write(self, frame: np.ndarray) -> None:
        with self._lock:
            self.writes += 1
            for back in (1, 2, 3, 5, 8):
                if len(self.kept) >= back:
                    self._check(*self.kept[-back])
            self.kept.append((frame, zlib.crc32(frame.data)))

    def _check(self, frame: np.ndarray, crc: int) -> None:
        if zlib.crc32(frame.data) != crc:
            self.torn.append(self.writes)

    def recheck_all(self) -> None:
        with self._lock:
            for frame, crc in self.kept:
                self._check(frame, crc)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("effect", ["none", "mask"])
def test_no_output_sees_a_torn_frame(
    models_dir: Path, pipelines: list[Pipeline], effect: str
) -> None:
    # An unpaced moving demo clip: capture reuses its buffers as fast as it can; "none" hands
    # the captured frame itself back from composite().
    recorder = ChecksumOutput()
    pipeline = Pipeline(settings(source="demo://?pace=0", outputs=["mjpeg://"], effect=effect))
    pipeline.attach_output(recorder)
    pipelines.append(pipeline)
    pipeline.start()
    wait_until(pipeline, lambda st: st.frames_out >= 60, 120)
    pipeline.stop()
    recorder.recheck_all()
    assert recorder.writes >= 60
    assert recorder.torn == []


class RingRecorder(FrameProcessor):
    """The CPU processor, noting whether each frame it segments lies in its capture buffers
    (in `in_ring`, a list that may be shared with the test)."""

    def __init__(self, s: Settings, in_ring: list[bool] | None = None, **kwargs: Any) -> None:
        super().__init__(s, **kwargs)
        self.buffers: list[np.ndarray] = []
        self.in_ring: list[bool] = [] if in_ring is None else in_ring

    def capture_frames(self, height: int, width: int, count: int) -> list[np.ndarray]:
        buffers = super().capture_frames(height, width, count)
        self.buffers.extend(buffers)
        return buffers

    def segment(
        self,
        frame_bgr: np.ndarray,
        parts: bool | None = None,
        timings: dict[str, float] | None = None,
        refine: bool = True,
    ) -> SegmentationResult:
        self.in_ring.append(any(np.shares_memory(frame_bgr, b) for b in self.buffers))
        return super().segment(frame_bgr, parts, timings, refine)


@pytest.mark.parametrize("source", ["demo", "file", "image"])
def test_sources_decode_into_the_processors_capture_buffers(
    models_dir: Path, pipelines: list[Pipeline], clip_path: Path, photo_path: Path, source: str
) -> None:
    uri = {"demo": "demo://", "file": f"file://{clip_path}", "image": f"image://{photo_path}"}
    record: dict[str, list[bool]] = {"in_ring": []}
    pipeline = Pipeline(
        settings(source=uri[source], outputs=["mjpeg://"]),
        processor_factory=lambda s: RingRecorder(s, record["in_ring"]),
    )
    pipelines.append(pipeline)
    pipeline.start()
    wait_until(pipeline, lambda st: st.frames_segmented >= 20, 120)
    pipeline.stop()
    # The first frames may predate the processor (plain buffers); then every frame segmented
    # was decoded straight into one of its capture buffers.
    assert all(record["in_ring"][-10:]), record["in_ring"]


def test_a_held_buffer_is_never_handed_out_again() -> None:
    from runtime.pipeline.mailbox import CaptureBuffers, LatestFrame, allocate_plain

    buffers = CaptureBuffers(count=3)
    mailbox = LatestFrame()
    first, hold = buffers.acquire(1, (4, 6), allocate_plain)
    mailbox.put(first, 0.0, hold)  # the mailbox holds it now
    taken = mailbox.wait_newer(0, 1.0)  # and a reader
    assert taken is not None
    second, hold2 = buffers.acquire(1, (4, 6), allocate_plain)
    third, hold3 = buffers.acquire(1, (4, 6), allocate_plain)
    assert hold2 is not None and hold3 is not None
    assert not np.shares_memory(second, first) and not np.shares_memory(third, first)
    overflow, none = buffers.acquire(1, (4, 6), allocate_plain)  # all three held
    assert none is None and buffers.overflows == 1
    assert not any(np.shares_memory(overflow, b) for b in (first, second, third))
    mailbox.put(second, 0.0, hold2)  # replaces `first` in the mailbox; the reader still has it
    assert buffers.release_generation(1) is False  # processor 1 may not close yet
    _fourth, hold4 = buffers.acquire(1, (4, 6), allocate_plain)
    assert hold4 is None  # `first` is still read, `second` in the mailbox, `third` held
    taken.done()
    fifth, hold5 = buffers.acquire(1, (4, 6), allocate_plain)
    assert hold5 is not None and np.shares_memory(fifth, first)  # free again: reused
    for held in (hold3, hold5):
        held.release()
    mailbox.clear()
    assert buffers.release_generation(1) is True  # nothing held: processor 1 may close
    _after, hold6 = buffers.acquire(1, (4, 6), allocate_plain)
    assert hold6 is None  # a released generation's ring is never used again
