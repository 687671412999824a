"""Several frames at once (runtime/parallel.py) give the frames of one after another."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.demo import DemoClip
from runtime.parallel import ParallelFrames, runs_concurrently
from runtime.processor import FrameProcessor
from runtime.settings import Settings


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 3])
def test_frames_at_once_are_the_frames_one_after_another(models_dir: Path, workers: int) -> None:
    # Smoothing and feathering carry state from frame to frame: refined in order, they match.
    chosen = Settings(effect="blur", backend="onnxruntime", threads=1, smoothing=0.5, feather=3)
    clip = DemoClip(192, 144)
    frames = [clip.frame(i * 5) for i in range(9)]
    alone = FrameProcessor(chosen)
    want = [alone.process(frame) for frame in frames]
    alone.close()
    threads = cv2.getNumThreads()
    together = FrameProcessor(chosen)
    try:
        with ParallelFrames(together, workers) as parallel:
            got = list(parallel.process(iter(frames)))
            assert cv2.getNumThreads() == 1  # the workers are the cores' worth
            assert runs_concurrently(together)
    finally:
        together.close()
    assert cv2.getNumThreads() == threads
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(a.result.mask, b.result.mask), i
        assert np.array_equal(a.image, b.image), i
        assert set(a.timings_ms) == {"preprocess", "inference", "mask", "composite"}


def test_no_frames_give_nothing(models_dir: Path) -> None:
    processor = FrameProcessor(Settings(backend="onnxruntime", threads=1))
    try:
        with ParallelFrames(processor, 2) as parallel:
            assert list(parallel.process([])) == []
    finally:
        processor.close()


class _FailsOnFrame(FrameProcessor):
    """Raises while segmenting one given frame (one the backend cannot take)."""

    def __init__(self, settings: Settings, bad: np.ndarray) -> None:
        super().__init__(settings)
        self.bad = bad

    def segment(self, frame_bgr, parts=None, timings=None, refine=True):
        if frame_bgr is self.bad:
            raise UserError("this frame cannot be segmented")
        return super().segment(frame_bgr, parts, timings, refine)


@pytest.mark.slow
def test_a_failing_frame_stops_the_clip_without_hanging(models_dir: Path) -> None:
    frames = [DemoClip(128, 96).frame(i) for i in range(12)]
    processor = _FailsOnFrame(Settings(backend="onnxruntime", threads=1), bad=frames[5])
    got = []
    try:
        with (
            pytest.raises(UserError, match="cannot be segmented"),
            ParallelFrames(processor, 3) as parallel,
        ):
            for done in parallel.process(frames):
                got.append(done)
    finally:
        processor.close()
    assert len(got) == 5  # every frame before the failing one, in order
