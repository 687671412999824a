"""Several frames at once (runtime/parallel.py) give the frames of one after another."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

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
