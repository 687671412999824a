"""Processor builds, swaps and frame paths in the live pipeline (real ONNX Runtime)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.backends.onnxruntime import OnnxRuntimeBackend
from runtime.models import find_onnx
from runtime.pipeline import Pipeline
from runtime.processor import SegmentationResult
from runtime.settings import Settings
from tests.runtime.pipeline.test_capture_ring import RingRecorder
from tests.runtime.pipeline.test_pipeline import SIZE, settings, wait_until

pytestmark = pytest.mark.slow


class TaggedProcessor(RingRecorder):
    """The real CPU processor, noting which processor made each segmentation it composites
    and which frame sizes it segmented (and, as RingRecorder, whether frames were decoded
    into its capture buffers)."""

    foreign: list[str]

    def __init__(self, s: Settings, foreign: list[str], **kwargs: Any) -> None:
        super().__init__(s, **kwargs)
        self.foreign = foreign
        self.sizes: set[tuple[int, int]] = set()

    def segment(
        self,
        frame_bgr: np.ndarray,
        parts: bool | None = None,
        timings: dict[str, float] | None = None,
        refine: bool = True,
    ) -> SegmentationResult:
        result = super().segment(frame_bgr, parts, timings, refine)
        result.made_by = self  # type: ignore[attr-defined]
        self.sizes.add(frame_bgr.shape[:2])
        return result

    def composite(self, frame_bgr: np.ndarray, result: SegmentationResult) -> np.ndarray:
        if getattr(result, "made_by", self) is not self:
            self.foreign.append(f"{frame_bgr.shape}")
        return super().composite(frame_bgr, result)


@pytest.fixture
def stop_after() -> Iterator[list[Pipeline]]:
    pipelines: list[Pipeline] = []
    yield pipelines
    for pipeline in pipelines:
        pipeline.stop()


def test_settings_storm_builds_one_model_at_a_time(
    models_dir: Path, photo_path: Path, stop_after: list[Pipeline]
) -> None:
    """Issue 12 item 5: 100 changes that each need a new model, from 8 threads: at most one
    build runs, newer requests supersede queued ones, and no mask of a replaced processor is
    composited by its successor."""
    foreign: list[str] = []
    models = {"loading": 0, "peak": 0}
    lock = threading.Lock()

    def load_model(s: Settings, input_size: tuple[int, int]) -> OnnxRuntimeBackend:
        with lock:
            models["loading"] += 1
            models["peak"] = max(models["peak"], models["loading"])
        try:
            return OnnxRuntimeBackend(find_onnx(s.variant), s.variant, s.threads)
        finally:
            with lock:
                models["loading"] -= 1

    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"]),
        processor_factory=lambda s: TaggedProcessor(s, foreign, backend_factory=load_model),
    )
    stop_after.append(pipeline)
    pipeline.start()
    wait_until(pipeline, lambda st: st.frames_out >= 3, 120)

    threads_before = threading.active_count()
    peak = {"threads": 0}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak["threads"] = max(peak["threads"], threading.active_count())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    base = pipeline.settings
    resolutions = [round(0.3 + 0.005 * i, 3) for i in range(100)]

    def change(part: list[float]) -> None:
        for value in part:
            pipeline.apply_settings(base.model_copy(update={"internal_resolution": value}))

    changers = [threading.Thread(target=change, args=(resolutions[i::8],)) for i in range(8)]
    for thread in changers:
        thread.start()
    for thread in changers:
        thread.join()
    final = pipeline.settings.internal_resolution
    status = wait_until(pipeline, lambda st: st.processor_state == "ready", 120)
    sampling.set()
    sampler.join()
    slot = pipeline._slot
    assert slot.current is not None and slot.current.built_for.internal_resolution == final
    assert models["peak"] == 1, models  # one model loading at a time
    assert peak["threads"] <= threads_before + 8 + 1 + 2, peak  # changers, sampler, builder
    assert slot.builds_started < 50  # queued requests were superseded, not built
    before = status.frames_out
    wait_until(pipeline, lambda st: st.frames_out >= before + 5, 60)
    assert foreign == []


class FixedSizeOnnx(OnnxRuntimeBackend):
    """ONNX Runtime declaring the one input size it was made for, as a TensorRT engine does
    (TensorRT cannot run here); `gate` holds its construction like an engine build."""

    def __init__(self, s: Settings, input_size: tuple[int, int], gate: threading.Event) -> None:
        if not gate.wait(120):
            raise RuntimeError("the test never released the build")
        super().__init__(find_onnx(s.variant), s.variant, s.threads)
        self._fixed = input_size

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self._fixed


def test_camera_size_change_rebuilds_a_fixed_size_backend_off_the_frame_path(
    models_dir: Path, photo_path: Path, stop_after: list[Pipeline]
) -> None:
    """Issue 12 item 6: ONNX Runtime serves the new size while the fixed-size backend is
    built for it; the old processor never sees the new size, no mask crosses processors."""
    foreign: list[str] = []
    gate = threading.Event()
    gate.set()
    made: list[TaggedProcessor] = []

    def factory(s: Settings) -> TaggedProcessor:
        if s.backend == "onnxruntime":  # the interim (or fallback) processor: any size
            processor = TaggedProcessor(s, foreign)
        else:
            processor = TaggedProcessor(
                s, foreign, backend_factory=lambda s, size: FixedSizeOnnx(s, size, gate)
            )
        made.append(processor)
        return processor

    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"], backend="auto"),
        processor_factory=factory,
    )
    stop_after.append(pipeline)
    pipeline.start()
    wait_until(pipeline, lambda st: st.frames_out >= 3 and st.processor_state == "ready", 120)
    first = made[-1]
    assert pipeline._slot.current is not None and pipeline._slot.current.description.fixed_size

    gate.clear()  # the "engine build" for the new size now takes until we say so
    pipeline.apply_settings(pipeline.settings.model_copy(update={"width": 256, "height": 192}))
    wait_until(pipeline, lambda st: st.source_width == 256, 30)
    before = pipeline.status().frames_out
    # Processed frames of the new size go out while the fixed-size build is still held.
    status = wait_until(pipeline, lambda st: st.frames_out >= before + 10, 60)
    assert status.processor_state == "loading"  # the interim one serves
    latest = pipeline.mjpeg.latest()
    assert latest is not None
    gate.set()
    wait_until(pipeline, lambda st: st.processor_state == "ready", 120)
    current = pipeline._slot.current
    assert current is not None and current.description.fixed_size
    assert current.frame_size == (192, 256)
    before = pipeline.status().frames_out
    wait_until(pipeline, lambda st: st.frames_out >= before + 10, 60)
    final = made[-1]
    assert final.in_ring[-5:] == [True] * 5  # capture decodes into the new processor's ring
    assert first.sizes == {(SIZE[1], SIZE[0])}  # never asked to segment the new size
    assert foreign == []


def test_cuda_frame_path_unavailable_falls_back_to_cpu(
    models_dir: Path, photo_path: Path, stop_after: list[Pipeline], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.pipeline import cuda_unavailable

    reason = cuda_unavailable()
    if reason is None:
        pytest.skip("CUDA is usable here: its absence cannot be shown")
    pipeline = Pipeline(
        settings(source=f"image://{photo_path}", outputs=["mjpeg://"], frame_path="cuda")
    )
    stop_after.append(pipeline)
    pipeline.start()
    status = wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    assert status.frame_path == "cpu" and status.frame_path_setting == "cuda"
    assert status.last_error and "CUDA frame path unavailable" in status.last_error
    assert {"preprocess", "inference", "mask", "composite"} <= set(status.stage_ms)


def test_auto_frame_path_reports_what_runs(
    models_dir: Path, photo_path: Path, stop_after: list[Pipeline]
) -> None:
    from runtime.pipeline import cuda_unavailable

    pipeline = Pipeline(settings(source=f"image://{photo_path}", outputs=["mjpeg://"]))
    stop_after.append(pipeline)
    pipeline.start()
    status = wait_until(pipeline, lambda st: st.frames_out >= 3, 120)
    assert status.frame_path == ("cpu" if cuda_unavailable() else "cuda")
    assert status.last_error is None  # auto without CUDA is no error


def test_live_inference_leaves_one_core_to_compositing(models_dir: Path) -> None:
    """threads = 0 (all cores) in the live pipeline: all cores but one for inference, kept
    across settings changes that do not need a new model (no rebuild to all cores)."""
    import os

    from runtime.demo import DemoClip
    from runtime.pipeline.processor_slot import default_processor_factory, live_inference_threads

    want = max(1, (os.cpu_count() or 1) - 1)
    chosen = Settings(frame_path="cpu", backend="onnxruntime", threads=0)
    assert live_inference_threads(chosen) == want
    assert live_inference_threads(chosen.model_copy(update={"threads": 3})) == 3
    processor = default_processor_factory(chosen)
    try:
        frame = DemoClip(160, 120).frame(3)
        processor.segment(frame)
        backend = getattr(processor, "backend", None)
        assert processor.describe().detail["threads"] == want
        processor.update_settings(chosen.model_copy(update={"effect": "mask"}))
        processor.segment(frame)
        assert getattr(processor, "backend", None) is backend
    finally:
        processor.close()
