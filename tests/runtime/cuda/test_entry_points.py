"""The two entry points the live pipeline uses, and the processor protocol."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from core.errors import UserError
from runtime.cuda import cuda_unavailable_reason, open_cuda_processor
from runtime.cuda.processor import CudaFrameProcessor
from runtime.processor_protocol import FrameProcessorProtocol
from tests.runtime.cuda.conftest import settings


def test_host_executor_is_available_with_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BODYPIX_CUDA_EXECUTOR", "host")
    assert cuda_unavailable_reason() is None


def test_a_bad_executor_name_is_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BODYPIX_CUDA_EXECUTOR", "gpu")
    reason = cuda_unavailable_reason()
    assert reason is not None and "BODYPIX_CUDA_EXECUTOR" in reason
    with pytest.raises(UserError, match="BODYPIX_CUDA_EXECUTOR"):
        open_cuda_processor(settings())


@pytest.mark.skipif(importlib.util.find_spec("pycuda") is not None, reason="pycuda is installed")
def test_without_pycuda_the_reason_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BODYPIX_CUDA_EXECUTOR", raising=False)
    reason = cuda_unavailable_reason()
    assert reason is not None and "pycuda" in reason and "[gpu]" in reason
    assert reason.count(". ") == 0  # one sentence
    with pytest.raises(UserError, match="pycuda"):
        open_cuda_processor(settings())


def test_open_cuda_processor_on_the_host_executor(
    monkeypatch: pytest.MonkeyPatch, models_dir: Any, photo: np.ndarray
) -> None:
    """The processor the pipeline gets: it picks its backend (ONNX Runtime here), runs
    the protocol's calls and describes itself as the CUDA frame path."""
    monkeypatch.setenv("BODYPIX_CUDA_EXECUTOR", "host")
    monkeypatch.setenv("BODYPIX_CUDA_MEMORY", "mapped")
    processor: FrameProcessorProtocol = open_cuda_processor(settings(effect="blur"))
    try:
        height, width = photo.shape[:2]
        ring = processor.capture_frames(height, width, 2)
        ring[0][...] = photo
        image = processor.composite(ring[0], processor.segment(ring[0]))
        assert image.shape == photo.shape
        described = processor.describe()
        assert described.frame_path == "cuda"
        assert described.backend == "onnxruntime"
        assert described.model_file is not None and described.model_file.endswith(".onnx")
        assert described.detail["executor"] == "host"
        assert described.detail["memory"] == "mapped"
        stages = processor.stage_ms()
        assert {"preprocess", "upsample_sigmoid", "composite", "inference"} <= set(stages)
        assert all(ms >= 0 for ms in stages.values())
        processor.update_settings(settings(effect="mask"))
        processor.reset_smoothing()
        assert processor.composite(photo, processor.segment(photo)).shape == photo.shape
    finally:
        processor.close()
    processor.close()  # idempotent


def test_the_class_satisfies_the_protocol() -> None:
    checked: type[FrameProcessorProtocol] = CudaFrameProcessor  # mypy checks the signatures
    assert checked is CudaFrameProcessor
