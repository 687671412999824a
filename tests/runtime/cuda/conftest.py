"""The CUDA tests run on every executor present: the host executor always (CI: the kernels
compiled for the CPU, never skipped) and the GPU through pycuda where one exists."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from runtime.cuda.device import Device, open_device
from runtime.cuda.processor import CudaFrameProcessor
from runtime.settings import Settings

VARIANT = "mobilenet-float-050-stride16"


def device_skip_reason() -> str | None:
    """Why the pycuda executor cannot run here (None when it can)."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:  # not installed, or no libcuda (no NVIDIA driver)
        return f"pycuda cannot be imported ({exc}): scripts/gpu-check.sh runs these on a GPU"
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA device"
    except cuda.Error as exc:
        return f"no usable CUDA driver: {exc}"
    return None


def executors() -> list[Any]:
    """host always; device unless BODYPIX_CUDA_TEST_EXECUTORS=host (the sanitizer run)."""
    wanted = os.environ.get("BODYPIX_CUDA_TEST_EXECUTORS", "host,device").split(",")
    params: list[Any] = []
    if "host" in wanted:
        params.append(pytest.param("host", id="host"))
    if "device" in wanted:
        reason = device_skip_reason()
        marks = [pytest.mark.cuda, *([pytest.mark.skip(reason=reason)] if reason else [])]
        params.append(pytest.param("device", id="device", marks=marks))
    return params


@pytest.fixture(scope="session", params=executors())
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session", params=["pinned", "mapped"])
def memory_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_test_device(executor: str, memory_mode: str = "pinned") -> Device:
    if executor == "device" and memory_mode == "mapped":
        import pycuda.driver as cuda

        cuda.init()
        if not cuda.Device(0).get_attribute(cuda.device_attribute.CAN_MAP_HOST_MEMORY):
            pytest.skip("this GPU cannot map host memory")
    return open_device(executor, memory_mode)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def device(executor: str, memory_mode: str) -> Iterator[Device]:
    """One device per executor and memory mode, shared by the session."""
    dev = open_test_device(executor, memory_mode)
    yield dev
    dev.close()
    assert getattr(dev, "violations", []) == []


@pytest.fixture(scope="session")
def pinned_device(executor: str) -> Iterator[Device]:
    """The executor in pinned mode (the discrete-GPU layout), for tests of one mode."""
    dev = open_test_device(executor, "pinned")
    yield dev
    dev.close()
    assert getattr(dev, "violations", []) == []


@pytest.fixture(scope="session")
def backend(models_dir: Path) -> Iterator[Any]:
    from runtime.backends.onnxruntime import OnnxRuntimeBackend
    from runtime.models import find_onnx

    onnx = OnnxRuntimeBackend(find_onnx(VARIANT), VARIANT)
    yield onnx
    onnx.close()


@pytest.fixture(scope="session")
def photo(astronaut: np.ndarray) -> np.ndarray:
    """A real photo of a person as BGR, 192x256 (small: the host executor is a CPU loop)."""
    return np.ascontiguousarray(
        cv2.cvtColor(cv2.resize(astronaut, (256, 256))[:192], cv2.COLOR_RGB2BGR)
    )


@pytest.fixture
def processors() -> Iterator[list[Any]]:
    """Processors a test opens, closed after it even when it fails (no allocation leaks)."""
    opened: list[Any] = []
    yield opened
    for processor in opened:
        processor.close()


def settings(**options: Any) -> Settings:
    return Settings.model_validate({"variant": VARIANT, "backend": "onnxruntime", **options})


def to_yuyv(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUYV))


def open_processor(processors: list[Any], *args: Any, **kwargs: Any) -> CudaFrameProcessor:
    """A CudaFrameProcessor that the test's `processors` list closes afterwards."""
    processor = CudaFrameProcessor(*args, **kwargs)
    processors.append(processor)
    return processor


def diff_u8(got: np.ndarray, expected: np.ndarray) -> npt.NDArray[np.int16]:
    """|got - expected| of two uint8 pictures of one shape."""
    assert got.shape == expected.shape and got.dtype == expected.dtype == np.uint8
    return np.abs(got.astype(np.int16) - expected.astype(np.int16))
