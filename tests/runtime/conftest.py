"""Media for the runtime tests (a real photo as an image file and as a short video clip), and
the pipelines a test starts, stopped after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.pipeline import Pipeline
from runtime.settings import Settings


@pytest.fixture(scope="session")
def photo_path(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("media") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    return path


def write_clip(path: Path, photo_rgb: np.ndarray, frames: int, size: tuple[int, int]) -> Path:
    """A clip of the photo sliding sideways, `frames` long, MJPG in AVI (no codec worries)."""
    width, height = size
    base = cv2.resize(cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2BGR), (height, height))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        x = (i * 4) % max(1, width - height)
        frame[:, x : x + height] = base
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    return write_clip(tmp_path_factory.mktemp("media") / "clip.avi", astronaut, 12, (320, 240))


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    """Pipelines a test starts, stopped after it even when it fails."""
    started: list[Pipeline] = []
    yield started
    for pipeline in started:
        pipeline.stop()


@pytest.fixture
def run_pipeline(models_dir: Path) -> Iterator[Callable[[Settings], Pipeline]]:
    """`run_pipeline(settings)`: a started pipeline, stopped after the test."""
    started: list[Pipeline] = []

    def start(s: Settings) -> Pipeline:
        pipeline = Pipeline(s)
        pipeline.start()
        started.append(pipeline)
        return pipeline

    yield start
    for pipeline in started:
        pipeline.stop()
